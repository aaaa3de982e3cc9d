"""iovsim-sweep run and collect with the real iovsim: results.csv content, resume, failures, bad
input, and the Slurm flow (its array tasks run by hand, as sbatch would)."""
import json
import os
import subprocess
import unittest

import support
from iovsim_sweep import points


def point_dirs(out):
    return sorted(os.listdir(os.path.join(out, "points")))


class ResultsCsv(unittest.TestCase):
    def test_rows_columns_and_values(self):
        out = os.path.join(support.scratch(self), "s")
        r = support.sweep(["run"] + support.SMALL + [
            "--grid", "iommu.iotlb.entries=16..64:x4", "--grid", "workload.window_bytes=256K,1M",
            "--repeat", "2", "--seed-from", "5", "--stats", "iommu.iotlb.*",
            "--stats", "workload.transactions,workload.latency_ns.p50", "--out", out,
            "--jobs", "2"])
        self.assertEqual(r.returncode, 0, r.stderr)
        header, rows = support.read_csv(os.path.join(out, "results.csv"))
        meta = ["iommu.iotlb.entries", "workload.window_bytes", "seed", "repeat", "point",
                "status", "wall_s"]
        self.assertEqual(header[:7], meta)
        stats = header[7:]
        self.assertEqual(stats, sorted(stats))
        self.assertIn("iommu.iotlb.hits", stats)
        self.assertIn("workload.latency_ns.p50", stats)
        self.assertTrue(all(s.startswith("iommu.iotlb.") or s.startswith("workload.")
                            for s in stats))
        # Grid order: entries slowest, then window, then the repeats with seeds 5, 6.
        self.assertEqual([r[:4] for r in rows], [
            ["16", "262144", "5", "0"], ["16", "262144", "6", "1"],
            ["16", "1048576", "5", "0"], ["16", "1048576", "6", "1"],
            ["64", "262144", "5", "0"], ["64", "262144", "6", "1"],
            ["64", "1048576", "5", "0"], ["64", "1048576", "6", "1"]])
        self.assertEqual(len(point_dirs(out)), 8)
        for row in rows:
            cells = dict(zip(header, row))
            self.assertEqual(cells["status"], "ok")
            self.assertGreater(float(cells["wall_s"]), 0)
            pdir = os.path.join(out, "points", cells["point"])
            with open(os.path.join(pdir, "stats.json")) as f:
                doc = json.load(f)
            with open(os.path.join(pdir, "config.json")) as f:
                config = json.load(f)
            # The point ran with its own parameters and seed...
            self.assertEqual(config["iommu.iotlb.entries"], int(cells["iommu.iotlb.entries"]))
            self.assertEqual(config["workload.window_bytes"],
                             int(cells["workload.window_bytes"]))
            self.assertEqual(doc["run"]["seed"], int(cells["seed"]))
            # ...and its row holds exactly its statistics.
            for name in stats:
                self.assertEqual(float(cells[name]), float(doc["stats"][name]), name)
            self.assertEqual(cells["workload.transactions"], "2000")
            # The directory is named by the hash of what decides the run.
            expected = points.point_hash([], {"iommu.enabled": "true", "workload.requests": 2000,
                                              "iommu.iotlb.entries": int(row[0]),
                                              "workload.window_bytes": int(row[1])}, int(row[2]))
            self.assertEqual(cells["point"], expected)
        # More entries, more hits: the sweep really changed the simulation.
        hits = dict((tuple(r[:3]), int(dict(zip(header, r))["iommu.iotlb.hits"])) for r in rows)
        self.assertGreater(hits[("64", "1048576", "5")], hits[("16", "1048576", "5")])

    def test_zip_and_all_statistics(self):
        out = os.path.join(support.scratch(self), "s")
        r = support.sweep(["run"] + support.SMALL + [
            "--zip", "iommu.iotlb.entries=16,64", "--zip", "iommu.iotlb.ways=4,8", "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        header, rows = support.read_csv(os.path.join(out, "results.csv"))
        self.assertEqual([r[:2] for r in rows], [["16", "4"], ["64", "8"]])
        # Without --repeat no seed is passed: the configuration's (1) applies and is reported.
        self.assertEqual([r[header.index("seed")] for r in rows], ["1", "1"])
        with open(os.path.join(out, "points", rows[0][header.index("point")],
                               "stats.json")) as f:
            self.assertEqual(len(header) - 7, len(json.load(f)["stats"]))


class Resume(unittest.TestCase):
    ARGS = support.SMALL + ["--grid", "iommu.iotlb.entries=16,32,64,128"]

    def run_sweep(self, out):
        return support.sweep(["run"] + self.ARGS + ["--out", out])

    def test_complete_points_are_skipped_damaged_ones_rerun(self):
        out = os.path.join(support.scratch(self), "s")
        first = self.run_sweep(out)
        self.assertEqual(first.returncode, 0, first.stderr)
        dirs = [os.path.join(out, "points", d) for d in point_dirs(out)]
        markers = dict((d, support.read_bytes(os.path.join(d, "done.json"))) for d in dirs)

        again = self.run_sweep(out)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("4 points: 4 complete, 0 to run", again.stderr)
        for d in dirs:  # not rerun: done.json (with the pid that ran it) untouched
            self.assertEqual(support.read_bytes(os.path.join(d, "done.json")), markers[d])

        truncated, deleted, interrupted, intact = dirs
        with open(os.path.join(truncated, "stats.json"), "r+") as f:
            f.truncate(20)
        os.remove(os.path.join(deleted, "stats.json"))
        os.remove(os.path.join(interrupted, "done.json"))
        third = self.run_sweep(out)
        self.assertEqual(third.returncode, 0, third.stderr)
        self.assertIn("1 complete, 3 to run (rerunning 2 corrupted, 1 incomplete)", third.stderr)
        self.assertEqual(support.read_bytes(os.path.join(intact, "done.json")), markers[intact])
        for d in (truncated, deleted, interrupted):
            self.assertNotEqual(support.read_bytes(os.path.join(d, "done.json")), markers[d])
            self.assertEqual(points.state(d), points.COMPLETE)
        header, rows = support.read_csv(os.path.join(out, "results.csv"))
        self.assertEqual([r[header.index("status")] for r in rows], ["ok"] * 4)

    def test_force_reruns_everything(self):
        out = os.path.join(support.scratch(self), "s")
        self.assertEqual(self.run_sweep(out).returncode, 0)
        r = support.sweep(["run"] + self.ARGS + ["--out", out, "--force"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 points, all to run (--force)", r.stderr)


class Failures(unittest.TestCase):
    # 64 entries cannot be split into 3 ways: iovsim params accepts the value (it is in range), the
    # run does not (exit 2 at elaboration). The other points must still run.
    ARGS = support.SMALL + ["--grid", "iommu.iotlb.ways=1,3,4"]

    def test_failed_point_is_recorded_and_rerun(self):
        out = os.path.join(support.scratch(self), "s")
        r = support.sweep(["run"] + self.ARGS + ["--out", out])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("failed: iovsim exited with status 2", r.stderr)
        header, rows = support.read_csv(os.path.join(out, "results.csv"))
        status = [(row[0], row[header.index("status")]) for row in rows]
        self.assertEqual(status, [("1", "ok"), ("3", "failed"), ("4", "ok")])
        failed_row = dict(zip(header, rows[1]))
        self.assertEqual(failed_row["iommu.iotlb.hits"], "")
        pdir = os.path.join(out, "points", failed_row["point"])
        with open(os.path.join(pdir, "failed.json")) as f:
            self.assertEqual(json.load(f)["exit"], 2)
        with open(os.path.join(pdir, "stderr.txt")) as f:
            self.assertIn("must be a multiple of iommu.iotlb.ways", f.read())
        self.assertFalse(os.path.exists(os.path.join(pdir, "done.json")))

        ok_dir = os.path.join(out, "points", rows[0][header.index("point")])
        marker = support.read_bytes(os.path.join(ok_dir, "done.json"))
        again = support.sweep(["run"] + self.ARGS + ["--out", out])
        self.assertEqual(again.returncode, 1)
        self.assertIn("2 complete, 1 to run (rerunning 1 failed)", again.stderr)
        self.assertEqual(support.read_bytes(os.path.join(ok_dir, "done.json")), marker)

    def test_collect_reports_failures(self):
        out = os.path.join(support.scratch(self), "s")
        support.sweep(["run"] + self.ARGS + ["--out", out])
        os.remove(os.path.join(out, "results.csv"))
        r = support.sweep(["collect", out])
        self.assertEqual(r.returncode, 1)
        self.assertIn("3 rows (2 ok, 1 failed, 0 missing)", r.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "results.csv")))


class BadInput(unittest.TestCase):
    def check_usage_error(self, args, message, with_out=True):
        """Exit 2, one line naming the problem, and no point directory created."""
        out = os.path.join(support.scratch(self), "s")
        r = support.sweep(["run"] + support.SMALL + args + (["--out", out] if with_out else []))
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(message, lines[0])
        self.assertFalse(os.path.exists(out))
        return lines[0]

    def test_malformed_grid(self):
        self.check_usage_error(["--grid", "iommu.iotlb.entries"], "expected KEY=V1,V2")

    def test_bad_range(self):
        self.check_usage_error(["--grid", "iommu.iotlb.entries=16..4096:x1"],
                               "factor must be greater than 1")

    def test_unknown_executor(self):
        self.check_usage_error(["--grid", "iommu.iotlb.entries=16", "--executor", "mpi"],
                               "invalid choice: 'mpi'")

    def test_missing_out(self):
        self.check_usage_error(["--grid", "iommu.iotlb.entries=16"], "required: --out",
                               with_out=False)

    def test_unknown_parameter_names_the_nearest(self):
        line = self.check_usage_error(["--grid", "iommu.iotlb.entires=16,32"],
                                      "unknown parameter 'iommu.iotlb.entires'")
        self.assertIn("iommu.iotlb.entries", line)

    def test_bad_value_of_a_later_point(self):
        # Every value is checked up front, not only the first point's.
        self.check_usage_error(["--grid", "iommu.iotlb.entries=16,32,lots"],
                               "expects an integer")

    def test_bad_iovsim_path(self):
        self.check_usage_error(["--grid", "iommu.iotlb.entries=16", "--iovsim", "/nonexistent"],
                               "not an executable")


class Slurm(unittest.TestCase):
    ARGS = support.SMALL + ["--grid", "iommu.iotlb.entries=16,64",
                            "--grid", "workload.window_bytes=256K,1M"]

    def test_job_array_then_collect_matches_local(self):
        base = support.scratch(self)
        out, local = os.path.join(base, "slurm"), os.path.join(base, "local")
        r = support.sweep(["run"] + self.ARGS + ["--executor", "slurm", "--jobs", "2",
                                                 "--slurm-option=--partition=short",
                                                 "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 points to run: sbatch", r.stderr)
        script = os.path.join(out, "slurm", "sweep.sbatch")
        with open(script) as f:
            text = f.read()
        self.assertIn("#SBATCH --array=0-3%2", text)
        self.assertIn("#SBATCH --partition=short", text)
        with open(os.path.join(out, "slurm", "points.txt")) as f:
            self.assertEqual(len(f.read().split()), 4)
        # What Slurm would do: run the script once per array index.
        for i in range(4):
            task = subprocess.run(["bash", script], env=support.env(SLURM_ARRAY_TASK_ID=str(i)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=60)
            self.assertEqual(task.returncode, 0, task.stderr)
        c = support.sweep(["collect", out])
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertIn("4 rows (4 ok, 0 failed, 0 missing)", c.stderr)
        self.assertEqual(support.sweep(["run"] + self.ARGS + ["--out", local]).returncode, 0)
        self.assertEqual(
            support.without(*support.read_csv(os.path.join(out, "results.csv"))),
            support.without(*support.read_csv(os.path.join(local, "results.csv"))))
        # Nothing left to do: no array is written.
        again = support.sweep(["run"] + self.ARGS + ["--executor", "slurm", "--out", out])
        self.assertIn("nothing to submit", again.stderr)


if __name__ == "__main__":
    unittest.main()
