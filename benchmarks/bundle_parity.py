"""Predictions of bundles on the real test files, as JSON on stdout, through ``nlptag.load`` and
``predict`` only, so the same script runs on any nlptag version: run it before and after a change
and compare the two files (``benchmarks/results/bundle_parity.md`` says how it was used).

    python benchmarks/bundle_parity.py BUNDLE_ROOT pos pos_fast ner sst2 lm mt > predictions.json

Each name is a bundle directory under BUNDLE_ROOT, with its ``-int8`` twin beside it where there
is one (since int8 became fixed-range, only taggers and classifiers have int8 bundles).
"""

import gzip
import json
import os
import sys

import nlptag

D = os.environ.get("NLPTAG_DATA_DIR", "../shared/data")


def conllu_words(path):
    sents, cur = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            if cur:
                sents.append(cur)
                cur = []
            continue
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if "-" in f[0] or "." in f[0]:
            continue
        cur.append(f[1])
    if cur:
        sents.append(cur)
    return sents


def conll_words(path):
    sents, cur = [], []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("-DOCSTART-"):
            if cur:
                sents.append(cur)
                cur = []
            continue
        cur.append(line.split()[0])
    if cur:
        sents.append(cur)
    return sents


out = {}
which = sys.argv[2:]
root = sys.argv[1]
for name in which:
    for variant in ("", "-int8"):
        b = f"{root}/{name}{variant}"
        if variant and not os.path.isdir(b):
            continue
        p = nlptag.load(b)
        if name.startswith("pos"):
            r = p.predict(conllu_words(f"{D}/ud_en_ewt/en_ewt-ud-test.conllu"), batch_size=64)
        elif name == "ner":
            r = p.predict(conll_words(f"{D}/conll2003/eng.testb"), batch_size=64)
        elif name == "sst2":
            rows = open(f"{D}/sst2/dev.tsv", encoding="utf-8").read().splitlines()
            texts = [row.split("\t")[0] for row in rows[1:]]
            r = p.predict(texts, batch_size=64)
        elif name == "mt":
            src = (
                gzip.open(f"{D}/multi30k/test_2016_flickr.de.gz", "rt", encoding="utf-8")
                .read()
                .splitlines()
            )
            r = p.predict(src[:300], batch_size=64)
            r = {"beam": r, "greedy": p.predict(src[:300], batch_size=64, beam_size=1)}
        elif name == "lm":
            r = p.predict(["ROMEO:", "First Citizen:\n"], length=100, temperature=0.8, seed=3)
        out[name + variant] = r
        print(name + variant, "done", file=sys.stderr)
json.dump(out, sys.stdout)
