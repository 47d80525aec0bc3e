"""Tiny assertion tally shared by the consumer tests: every check prints one
line; finish() prints the 'N passed, N failed' summary and the exit code."""
import sys


class Tally:
    def __init__(self, suite):
        self.suite, self.passed, self.failed = suite, 0, 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f": {detail}" if detail else ""))
        sys.stdout.flush()
        return ok

    def finish(self):
        print(f"{self.suite}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed or not self.passed else 0
