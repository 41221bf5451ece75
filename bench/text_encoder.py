"""Text encoder throughput: sentences per second of the Flax all-MiniLM-L6-v2.

  python bench/text_encoder.py [--sentences 1024] [--batch 64] [--words 12]

Encodes `--sentences` task descriptions of about `--words` words (tokenization, padding, the
jitted BERT forward, mean pooling and normalization included) after one warm-up call that
compiles the shapes; median of 3 passes. Prints one JSON line.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax.text import TextEncoder  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sentences", type=int, default=1024)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--words", type=int, default=12)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  vocabulary = ("classify handwritten digit images zero one two three four five six seven "
                "eight nine versus the others small grayscale pictures of numbers").split()
  sentences = [" ".join(rng.choice(vocabulary, args.words)) for _ in range(args.sentences)]
  encoder = TextEncoder(batch_size=args.batch)
  encoder(sentences)  # compiles every padded length these sentences use
  times = []
  for _ in range(3):
    start = time.perf_counter()
    encoder(sentences)
    times.append(time.perf_counter() - start)
  seconds = float(np.median(times))
  print(json.dumps({"bench": "text_encoder", "device": jax.devices()[0].device_kind,
                    "model": os.path.basename(os.path.dirname(encoder.model_dir)),
                    "sentences": args.sentences, "batch": args.batch, "words": args.words,
                    "seconds": round(seconds, 4),
                    "sentences_per_s": round(args.sentences / seconds, 1)}))


if __name__ == "__main__":
  main()
