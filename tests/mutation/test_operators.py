#!/usr/bin/env python3
"""tools/mutate's operators on a fixture: what they change, and what they
must leave alone (comments, strings, shifts, member access, line count)."""
import importlib.machinery
import os
import sys
import unittest

TOP = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
M = importlib.machinery.SourceFileLoader("mutate", os.path.join(TOP, "tools/mutate")).load_module()

FIXTURE = r'''#define SMALL_TAIL 896
static int f(struct s *p, const char *s, int n) /* a < b == c */
{
    if (n < 0) // x > y
        return -1;
    if (strcmp(s, "a<=b 7") == 0) {
        log('<');
        return 2;
    }
    for (int i = 0; i < n; i++)
        p->x = n >> 2;
    return tx_end(st, rc);
}
'''


def muts(area="store"):
    return M.mutants_of("daemon/store/store.c", FIXTURE, next(a for a in M.AREAS if a[0] == area))


def changed(m):
    return [(i + 1, a, b) for i, (a, b) in enumerate(zip(FIXTURE.split("\n"), m["edit"]))
            if a != b]


class Operators(unittest.TestCase):
    def test_each_mutant_changes_one_place_and_keeps_line_count(self):
        ms = muts()
        self.assertGreater(len(ms), 10)
        for m in ms:
            self.assertEqual(len(m["edit"]), len(FIXTURE.split("\n")), m)
            self.assertEqual(len(changed(m)), 1, m)
            self.assertEqual(changed(m)[0][0], m["line"])

    def test_comments_strings_chars_shifts_and_arrows_untouched(self):
        for m in muts():
            if m["op"] == "unguard":
                continue  # replaces the whole condition, strings included
            new = "\n".join(m["edit"])
            for keep in ("/* a < b == c */", "// x > y", '"a<=b 7"', "'<'", "p->x", "n >> "):
                self.assertIn(keep, new, m)

    def by(self, line, op, area="store"):
        return sorted(m["new"] for m in muts(area) if m["line"] == line and m["op"] == op)

    def test_relational_and_boundary(self):
        self.assertEqual(self.by(4, "bound"), ["if (n <= 0) // x > y"])
        self.assertEqual(self.by(6, "rel"), ['if (strcmp(s, "a<=b 7") != 0) {'])
        self.assertEqual(self.by(10, "bound"), ["for (int i = 0; i <= n; i++)"])
        self.assertEqual(self.by(11, "bound") + self.by(11, "rel"), [])

    def test_guards_with_return_only(self):
        self.assertEqual(self.by(4, "unguard"), ["if (0) // x > y"])
        self.assertEqual(self.by(6, "unguard"), ["if (0) {"])
        self.assertEqual(self.by(4, "negate"), ["if (!(n < 0)) // x > y"])

    def test_constants_off_by_one(self):
        self.assertEqual(self.by(1, "const+1"), ["#define SMALL_TAIL 897"])
        self.assertEqual(self.by(1, "const-1"), ["#define SMALL_TAIL 895"])
        self.assertEqual(self.by(4, "const-1"), [])  # no negative literal made
        self.assertEqual(self.by(11, "const+1"), ["p->x = n >> 3;"])

    def test_dropped_commit_in_the_store_only(self):
        self.assertEqual(self.by(12, "nocommit"), ["return (rc);"])
        self.assertEqual(self.by(12, "nocommit", area="config"), [])

    def test_sample_is_repeatable_and_spread(self):
        ms = [dict(m, area=a) for a in ("x", "y") for m in muts()]
        a, b = M.sample(ms, 8, 3), M.sample(ms, 8, 3)
        self.assertEqual([(m["area"], m["line"], m["op"]) for m in a],
                         [(m["area"], m["line"], m["op"]) for m in b])
        self.assertEqual(sum(m["area"] == "x" for m in a), 4)
        self.assertGreaterEqual(len({m["op"].rstrip("+-1") for m in a}), 4)

    def test_every_area_file_has_tests(self):
        for f in M.default_files():
            a = M.area_of(f)
            self.assertTrue(a[2] or a[3], f)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
