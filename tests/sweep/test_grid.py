"""Grid expansion, range syntax, canonical values and point hashing (no iovsim needed)."""
import unittest

import support  # noqa: F401  (puts tools/ on sys.path)
from iovsim_sweep import grid, points
from iovsim_sweep.errors import UsageError


class RangeSyntax(unittest.TestCase):
    def test_geometric(self):
        self.assertEqual(grid.parse_values("16..4096:x2", "t"),
                         [16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
        self.assertEqual(grid.parse_values("256K..64M:x4", "t"),
                         [262144, 1048576, 4194304, 16777216, 67108864])
        self.assertEqual(grid.parse_values("1..10:x3", "t"), [1, 3, 9])  # end not hit

    def test_arithmetic(self):
        self.assertEqual(grid.parse_values("0..100:+10", "t"), list(range(0, 101, 10)))
        self.assertEqual(grid.parse_values("0.1..0.5:+0.1", "t"), [0.1, 0.2, 0.3, 0.4, 0.5])
        self.assertEqual(grid.parse_values("1..2:+5", "t"), [1])

    def test_mixed_list(self):
        self.assertEqual(grid.parse_values("1,4..16:x2,lru", "t"), [1, 4, 8, 16, "lru"])

    def test_canonical_values(self):
        self.assertEqual(grid.parse_values("4K,0x10,2.50,true,../a.csv", "t"),
                         [4096, 16, 2.5, "true", "../a.csv"])
        self.assertEqual(grid.format_value(2.5), "2.5")
        self.assertEqual(grid.format_value(4096), "4096")

    def test_bad_ranges(self):
        for text, message in [("16..4096", "needs a step"),
                              ("16..4096:x1", "factor must be greater than 1"),
                              ("0..8:x2", "must start above 0"),
                              ("10..1:+1", "start is greater than end"),
                              ("1..8:+0", "step must be greater than 0"),
                              ("1..8:+q", "step 'q' is not a number"),
                              ("1..1G:+1", "more than"),
                              ("1,2,1", "appears twice"),
                              ("1,,2", "empty value")]:
            with self.subTest(text=text):
                with self.assertRaises(UsageError) as ctx:
                    grid.parse_values(text, "--grid k")
                self.assertIn(message, str(ctx.exception))
                self.assertTrue(str(ctx.exception).startswith("--grid k"))


class GridExpansion(unittest.TestCase):
    def test_product_in_grid_order(self):
        axes = grid.build_axes([("grid", "a=1,2"), ("grid", "b=x,y,z")])
        got = [tuple(p.values()) for p in grid.expand(axes)]
        self.assertEqual(got, [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")])

    def test_zip_is_one_axis_at_its_first_place(self):
        axes = grid.build_axes([("grid", "a=1,2"), ("zip", "b=4,8"), ("grid", "c=0"),
                                ("zip", "d=16,32")])
        self.assertEqual(grid.swept_keys(axes), ["a", "b", "d", "c"])
        got = [tuple(p.values()) for p in grid.expand(axes)]
        self.assertEqual(got, [(1, 4, 16, 0), (1, 8, 32, 0), (2, 4, 16, 0), (2, 8, 32, 0)])

    def test_no_axes_is_one_point(self):
        self.assertEqual(grid.expand([]), [{}])

    def test_bad_grids(self):
        for entries, message in [([("grid", "a")], "expected KEY=V1,V2"),
                                 ([("grid", "=1")], "expected KEY=V1,V2"),
                                 ([("grid", "a b=1")], "is not a parameter name"),
                                 ([("grid", "a=1"), ("grid", "a=2")], "swept twice"),
                                 ([("zip", "a=1,2"), ("zip", "b=1")], "as many values")]:
            with self.subTest(entries=entries):
                with self.assertRaises(UsageError) as ctx:
                    grid.build_axes(entries)
                self.assertIn(message, str(ctx.exception))

    def test_repeats_vary_fastest_with_consecutive_seeds(self):
        axes = grid.build_axes([("grid", "a=1,2")])
        pts = points.make_points(grid.expand(axes), {}, 3, 10, [])
        self.assertEqual([(p.swept["a"], p.repeat, p.seed) for p in pts],
                         [(1, 0, 10), (1, 1, 11), (1, 2, 12), (2, 0, 10), (2, 1, 11), (2, 2, 12)])
        self.assertEqual(len(set(p.hash for p in pts)), 6)

    def test_seed_conflicts(self):
        axes = grid.build_axes([("grid", "seed=1,2")])
        with self.assertRaises(UsageError):
            points.make_points(grid.expand(axes), {}, 2, 1, [])
        with self.assertRaises(UsageError):
            points.make_points([{}], {"seed": 3}, 2, 1, [])
        with self.assertRaises(UsageError):
            points.make_points([{"a": 1}], {"a": 2}, 1, None, [])


class Hashing(unittest.TestCase):
    # Point directory names must not change between versions of this tool or of Python, or
    # every existing sweep would rerun from scratch: this value is sha1 of
    # {"configs":[],"seed":1,"set":{"iommu.iotlb.entries":64}}, truncated.
    GOLDEN = "f8d7e18504d4"

    def test_stable_value(self):
        self.assertEqual(points.point_hash([], {"iommu.iotlb.entries": 64}, 1), self.GOLDEN)
        p = points.Point({"iommu.iotlb.entries": 64}, 1, 0, {}, [])
        self.assertEqual(p.hash, self.GOLDEN)

    def test_same_point_written_differently(self):
        a = points.Point({"x": grid.canonical_value("4K"), "y": "lru"}, None, 0, {"z": 1}, [])
        b = points.Point({"y": "lru"}, None, 0, {"x": grid.canonical_value("0x1000"), "z": 1}, [])
        self.assertEqual(a.hash, b.hash)  # order and spelling do not matter, only assignments

    def test_everything_that_decides_the_run_counts(self):
        base = points.point_hash(["preset:default"], {"x": 1}, 1)
        self.assertNotEqual(base, points.point_hash(["preset:default"], {"x": 2}, 1))
        self.assertNotEqual(base, points.point_hash(["preset:default"], {"x": 1}, 2))
        self.assertNotEqual(base, points.point_hash(["preset:default"], {"x": "1"}, 1))
        self.assertNotEqual(base, points.point_hash(["sha1:00"], {"x": 1}, 1))
        self.assertEqual(len(base), 12)


if __name__ == "__main__":
    unittest.main()
