"""iovsim-sweep plot on a real sweep with repeats: PNG and SVG files, labels with units, the
min-max band's legend entry, the re-exec under the system Python, and the errors."""
import os
import subprocess
import sys
import unittest

import support

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Plot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = os.path.join(support.scratch("test_plot.Plot"), "s")
        r = support.sweep(["run"] + support.SMALL + [
            "--grid", "iommu.iotlb.entries=16,64", "--grid", "workload.window_bytes=256K..1M:x2",
            "--repeat", "3", "--out", cls.out])
        if r.returncode != 0:
            raise RuntimeError("the sweep to plot failed: " + r.stderr)

    def plot(self, *args, python=None):
        return support.sweep(["plot", self.out] + list(args), python=python)

    def test_png(self):
        png = os.path.join(self.out, "hit-rate.png")
        r = self.plot("--x", "workload.window_bytes", "--y", "iommu.iotlb.hit_rate",
                      "--series", "iommu.iotlb.entries", "--logx", "-o", png)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 lines", r.stderr)
        data = support.read_bytes(png)
        self.assertTrue(data.startswith(PNG_SIGNATURE))
        self.assertGreater(len(data), 10000)

    def test_svg_labels_units_legend(self):
        svg = os.path.join(self.out, "latency.svg")
        r = self.plot("--x", "workload.window_bytes", "--y", "workload.latency_ns.p50",
                      "--series", "iommu.iotlb.entries", "--logx", "-o", svg)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(svg, encoding="utf-8") as f:
            text = f.read()
        for expected in ("workload.window_bytes (bytes)", "workload.latency_ns.p50 (ns)",
                         "iommu.iotlb.entries = 16", "iommu.iotlb.entries = 64",
                         "over 3 repeats", "256K", "1M"):
            self.assertIn(expected, text)

    def test_where_and_no_series(self):
        png = os.path.join(self.out, "where.png")
        r = self.plot("--x", "iommu.iotlb.entries", "--y", "iommu.iotlb.hits",
                      "--where", "workload.window_bytes=512K", "-o", png)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(support.read_bytes(png).startswith(PNG_SIGNATURE))

    def test_reexec_under_system_python(self):
        # python3 -S has no site packages, hence no matplotlib: the command must re-execute itself
        # under /usr/bin/python3 (as it does from a pyenv or venv python3) and still plot.
        if not os.path.exists("/usr/bin/python3"):
            self.skipTest("no /usr/bin/python3")
        png = os.path.join(self.out, "reexec.png")
        cmd = [sys.executable, "-S", support.SWEEP, "plot", self.out, "--x",
               "iommu.iotlb.entries", "--y", "iommu.iotlb.misses", "--series",
               "workload.window_bytes", "-o", png]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120, env=support.env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(support.read_bytes(png).startswith(PNG_SIGNATURE))

    def test_errors(self):
        cases = [(["--x", "workload.window_bytes", "--y", "iommu.iotlb.hitrate"],
                  "no such column in results.csv; did you mean iommu.iotlb.hit_rate?"),
                 (["--x", "workload.window_bytes", "--y", "iommu.iotlb.hits"],
                  "iommu.iotlb.entries varies among the plotted points"),
                 (["--x", "workload.window_bytes", "--y", "iommu.iotlb.hits", "--series",
                   "iommu.iotlb.entries", "--where", "iommu.iotlb.entries=7"],
                  "no completed point matches")]
        for args, message in cases:
            with self.subTest(args=args):
                r = self.plot(*(args + ["-o", os.path.join(self.out, "x.png")]))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn(message, r.stderr)
        r = self.plot("--x", "iommu.iotlb.entries", "--y", "iommu.iotlb.hits", "-o", "x.gif")
        self.assertEqual(r.returncode, 2)
        self.assertIn("must end in .png", r.stderr)


if __name__ == "__main__":
    unittest.main()
