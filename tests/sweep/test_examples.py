"""The example sweeps of tools/examples run as shipped, only smaller (2000 requests, one seed),
and show what they are meant to show. pagesize-vfs needs the NIC workload and is not run."""
import os
import subprocess
import unittest

import support


def run_example(test, name, *extra):
    out = os.path.join(support.scratch(test), "out")
    cmd = ["bash", os.path.join(support.EXAMPLES, name + ".sh"), out,
           "--set", "workload.requests=2000", "--repeat", "1"] + list(extra)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300, env=support.env())
    test.assertEqual(r.returncode, 0, r.stderr)
    header, rows = support.read_csv(os.path.join(out, "results.csv"))
    return out, [dict(zip(header, row)) for row in rows]


class Examples(unittest.TestCase):
    def test_iotlb_reach(self):
        out, rows = run_example(self, "iotlb-reach")
        self.assertEqual(len(rows), 5 * 9)  # entries 16..4096:x4 x windows 256K..64M:x2
        for png in ("hit-rate.png", "throughput.png"):
            self.assertGreater(os.path.getsize(os.path.join(out, png)), 10000)
        rate = dict(((r["iommu.iotlb.entries"], r["workload.window_bytes"]),
                     float(r["iommu.iotlb.hit_rate"])) for r in rows)
        # Within its reach (entries x 4 KiB) the IOTLB hits; far beyond it, it hardly does.
        self.assertGreater(rate[("4096", str(256 << 10))], 0.9)  # 64 compulsory misses
        self.assertLess(rate[("64", str(64 << 20))], 0.05)

    def test_policy_assoc(self):
        out, rows = run_example(self, "policy-assoc")
        self.assertEqual(len(rows), 4 * 7)  # 4 policies x ways 1..64:x2
        self.assertGreater(os.path.getsize(os.path.join(out, "hit-rate.png")), 10000)
        rate = dict(((r["iommu.iotlb.policy"], r["iommu.iotlb.ways"]),
                     float(r["iommu.iotlb.hit_rate"])) for r in rows)
        # Cycling through 80 pages, fully associative LRU thrashes; random replacement does not.
        self.assertLess(rate[("lru", "64")], 0.01)
        self.assertGreater(rate[("random", "64")], 0.3)


if __name__ == "__main__":
    unittest.main()
