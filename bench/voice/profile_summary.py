"""Self and inclusive shares of a py-spy `--format raw` profile: python profile_summary.py OUT.raw"""

import collections
import sys

self_t: collections.Counter[str] = collections.Counter()
incl: collections.Counter[str] = collections.Counter()
total = 0
with open(sys.argv[1]) as raw:
    for line in raw:
        stack, _, n = line.rstrip().rpartition(" ")
        count = int(n)
        total += count
        frames = stack.split(";")
        self_t[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
print("total samples", total)
print("-- self")
for f, c in self_t.most_common(25):
    print(f"{c * 100 / total:5.1f}% {f}")
print("-- inclusive")
for f, c in incl.most_common(45):
    print(f"{c * 100 / total:5.1f}% {f}")
