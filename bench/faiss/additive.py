#!/usr/bin/python3
"""FAISS side-by-side for the additive quantizers of bench/quality.ts (never a dependency of pqvec).

    apt-get install -y python3-faiss dataset-fashion-mnist
    /usr/bin/python3 bench/faiss/additive.py [--kinds rq] [--m 7,15] [--beam 4] [--queries 10000] [--threads 1]

FAISS's ResidualQuantizer (IndexResidualQuantizer) with the same codebooks (M, 8 bits), beam
(max_beam_size) and one norm byte, non-uniform like pqvec's (ST_norm_cqint8: codes of M + 1 bytes),
on the same data, ground truth and definitions as the TypeScript benchmark. One JSON line per setting.
"""
import argparse, json, os, sys
import faiss

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import load, measure  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="rq")
    ap.add_argument("--m", default="7,15")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--queries", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--verbose", action="store_true",
                    help="FAISS's per-iteration training log (on stdout, before the JSON line: for runs by hand)")
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)
    xb, xq, gt, msn = load(a.queries)
    d = xb.shape[1]
    for kind in a.kinds.split(","):
        for m in map(int, a.m.split(",")):
            norm = faiss.AdditiveQuantizer.ST_norm_cqint8
            if kind == "rq":
                index = faiss.IndexResidualQuantizer(d, m, 8, faiss.METRIC_L2, norm)
                index.rq.max_beam_size = a.beam
            else:
                index = faiss.IndexLocalSearchQuantizer(d, m, 8, faiss.METRIC_L2, norm)
            index.aq.verbose = a.verbose
            print(json.dumps({"quantizer": kind, "m": m, "beam": a.beam if kind == "rq" else None, "codeBytes": index.code_size,
                              "normBytes": 1, **measure(index, xb, xq, gt, msn), "threads": a.threads}), flush=True)


if __name__ == "__main__":
    main()
