#!/usr/bin/python3
"""FAISS side of bench/scan.ts on this machine (never a dependency of pqvec).

    apt-get install -y python3-faiss
    /usr/bin/python3 bench/faiss/scan.py [--n 1000000] [--m 8,16,32] [--fast 32,64] [--queries 20] [--rounds 5]

IndexPQ(128, m, 8) (exhaustive ADC, no polysemous filter: the anchors' "PQm np"),
trained on 16,384 uniform random vectors, holding n random codes; k = 10.
Per m and per queries-per-call (1, 8, 32) and threads (1, 2): median ns per code
per query over rounds. Then IndexPQFastScan(128, m, 4) for the --fast m (4-bit
codes, its SIMD layout and uint8 tables; approximate distances, no refinement),
holding n uniform random vectors, one query per call. Prints one JSON line per setting.
"""
import argparse, json, time
import numpy as np
import faiss

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--m", default="8,16,32")
    ap.add_argument("--fast", default="32,64")
    ap.add_argument("--queries", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    d = 128
    rng = np.random.default_rng(7)
    train = rng.random((16384, d), dtype=np.float32)
    queries = rng.random((a.queries, d), dtype=np.float32)
    for m in [int(x) for x in a.m.split(",")]:
        index = faiss.IndexPQ(d, m, 8)
        index.search_type = faiss.IndexPQ.ST_PQ
        index.train(train)
        codes = rng.integers(0, 256, size=(a.n, m), dtype=np.uint8)
        faiss.copy_array_to_vector(codes.ravel(), index.codes)
        index.ntotal = a.n
        for threads in (1, 2):
            faiss.omp_set_num_threads(threads)
            for per_call in (1, 8, 32):
                per_round = []
                for _ in range(a.rounds):
                    t0 = time.perf_counter()
                    for q0 in range(0, a.queries, per_call):
                        index.search(queries[q0:q0 + per_call], 10)
                    per_round.append((time.perf_counter() - t0) * 1e9 / (a.n * a.queries))
                per_round.sort()
                print(json.dumps({"m": m, "nbits": 8, "threads": threads, "queriesPerCall": per_call, "nsPerCode": per_round[len(per_round) // 2]}), flush=True)
    for m in [int(x) for x in a.fast.split(",") if x]:
        index = faiss.IndexPQFastScan(d, m, 4)
        index.train(train)
        for s in range(0, a.n, 100_000):
            index.add(rng.random((min(100_000, a.n - s), d), dtype=np.float32))
        for threads in (1, 2):
            faiss.omp_set_num_threads(threads)
            per_round = []
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                for q in range(a.queries):
                    index.search(queries[q:q + 1], 10)
                per_round.append((time.perf_counter() - t0) * 1e9 / (a.n * a.queries))
            per_round.sort()
            print(json.dumps({"m": m, "nbits": 4, "threads": threads, "queriesPerCall": 1, "nsPerCode": per_round[len(per_round) // 2]}), flush=True)

if __name__ == "__main__":
    main()
