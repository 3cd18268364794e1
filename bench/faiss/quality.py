#!/usr/bin/python3
"""FAISS side-by-side for bench/quality.ts, on this machine (never a dependency of pqvec).

    apt-get install -y python3-faiss dataset-fashion-mnist
    /usr/bin/python3 bench/faiss/quality.py [--m 8,16,32] [--queries 10000] [--threads 1]

Same data, ground truth and definitions as the TypeScript benchmark; M = 32 pads 784 -> 800
like the anchors do. Prints one JSON line per setting.
"""
import argparse, gzip, json, os, time
import numpy as np
import faiss

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
GT = os.path.join(ROOT, "..", "shared", "datasets", "fashion-mnist", "gt100.i32")

def idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    n, r, c = np.frombuffer(buf[4:16], dtype=">u4")
    return np.frombuffer(buf[16:], dtype=np.uint8).reshape(int(n), int(r * c)).astype(np.float32)

def load(queries):
    """Base vectors, the first `queries` queries, their exact top-100 and the base's mean squared norm."""
    xb = idx(os.path.join(DATA, "train-images-idx3-ubyte.gz"))
    xq = idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:queries]
    gt = np.fromfile(GT, dtype="<i4").reshape(-1, 100)[:queries]
    return xb, xq, gt, float((xb.astype(np.float64) ** 2).sum(1).mean())

def measure(index, b, q, gt, msn):
    """Trains and fills index with b, then the benchmark's figures: one query at a time, top 100."""
    t = time.perf_counter(); index.train(b); train_s = time.perf_counter() - t
    t = time.perf_counter(); index.add(b); enc_us = (time.perf_counter() - t) * 1e6 / len(b)
    rec = index.reconstruct_n(0, len(b))
    rel_mse = float(((rec - b).astype(np.float64) ** 2).sum(1).mean()) / msn
    t = time.perf_counter()
    ids = np.vstack([index.search(q[i : i + 1], 100)[1] for i in range(len(q))])
    ms_q = (time.perf_counter() - t) * 1000 / len(q)
    r1 = float((ids[:, 0] == gt[:, 0]).mean())
    r100 = float((ids == gt[:, :1]).any(1).mean())
    r10 = float(np.mean([len(set(ids[i, :10]) & set(gt[i, :10])) / 10 for i in range(len(q))]))
    return {"recall1": r1, "recall10at10": r10, "recall100": r100, "relativeMse": rel_mse, "trainSeconds": train_s,
            "encodeMicrosPerVector": enc_us, "searchMsPerQuery": ms_q}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", default="8,16,32")
    ap.add_argument("--queries", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--opq", action="store_true", help="OPQ rotation before PQ")
    ap.add_argument("--opq-iterations", type=int, default=10)
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)
    xb, xq, gt, msn = load(a.queries)
    for m in map(int, a.m.split(",")):
        d = xb.shape[1]
        dim = (d + m - 1) // m * m
        pad = lambda x: np.ascontiguousarray(np.pad(x, ((0, 0), (0, dim - d)))) if dim != d else x
        b, q = pad(xb), pad(xq)
        pq = faiss.IndexPQ(dim, m, 8)
        index = pq
        if a.opq:
            opq = faiss.OPQMatrix(dim, m)
            opq.niter = a.opq_iterations
            index = faiss.IndexPreTransform(opq, pq)
        print(json.dumps({"quantizer": "opq" if a.opq else "pq", "m": m, "dim": dim, **measure(index, b, q, gt, msn),
                          "threads": a.threads}), flush=True)

if __name__ == "__main__":
    main()
