"""Run unittest TestCases and print TAP (for `prove -e /usr/bin/python3`).

Lives outside t/ so `prove t/*.py` does not run it. Each test file starts
with the sys.path line and `from raysim import tap as th`, and ends with
`th.main(globals())`. Also offers shared helpers (vector paths, constants).
"""
import os
import sys
import unittest

RAYSIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from . import scenarios  # noqa: E402

GTE = "/ray.rpc.TaskInfoGcsService/GetTaskEvents"
CA = "/ray.rpc.NodeInfoGcsService/CheckAlive"
PROFILES = ["2.9", "2.35", "2.40", "2.49", "master", "2.58"]


def vec(profile, *parts):
    return os.path.join(scenarios.default_vectors_dir(profile), *parts)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class _TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0
        self.failed = 0

    def _line(self, ok, test, extra=None):
        self.n += 1
        desc = test.id().split(".", 1)[-1]
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, desc))
        if extra:
            for ln in extra.rstrip().splitlines():
                print("# " + ln)
        sys.stdout.flush()

    def addSuccess(self, test):
        self._line(True, test)

    def addFailure(self, test, err):
        self.failed += 1
        self._line(False, test, self._exc_info_to_string(err, test))

    def addError(self, test, err):
        self.failed += 1
        self._line(False, test, self._exc_info_to_string(err, test))

    # A failing subTest does not call addFailure/addSuccess for the test:
    # collect its errors and print one "not ok" line when the test stops.
    def startTest(self, test):
        super().startTest(test)
        self._sub = []
        self._printed = self.n

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._sub.append("%s: %s" % (subtest.id(), self._exc_info_to_string(err, test)))

    def stopTest(self, test):
        if self.n == self._printed:
            self.failed += 1
            self._line(False, test, "\n".join(self._sub) or "no result")
        super().stopTest(test)

    def addSkip(self, test, reason):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, test.id(), reason))


def main(ns):
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for v in list(ns.values()):
        if isinstance(v, type) and issubclass(v, unittest.TestCase) and v is not unittest.TestCase:
            suite.addTests(loader.loadTestsFromTestCase(v))
    print("1..%d" % suite.countTestCases())
    sys.stdout.flush()
    res = _TapResult()
    suite.run(res)
    sys.exit(1 if res.failed or res.n != suite.countTestCases() else 0)
