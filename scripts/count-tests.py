"""Prints "N passed, N failed" for a lit xunit report.

lit's own summary is not in the form CI reads; this counts every test case
of the report (lit tests and each GoogleTest case run through lit), listing
skipped (unsupported) tests on a line of their own.
"""

import sys
import xml.etree.ElementTree as ElementTree


def main():
    root = ElementTree.parse(sys.argv[1]).getroot()
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    if skipped:
        print(f"{skipped} skipped (unsupported here)")
    print(f"{passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
