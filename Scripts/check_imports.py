#!/usr/bin/env python3
"""Checks that every module a target imports is declared in Package.swift as one of its dependencies (SwiftPM
builds transitive imports without complaint, which hides the real dependency graph).

Usage: python3 Scripts/check_imports.py    (exit 1 and one line per undeclared import)
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM = {"Foundation", "Dispatch", "XCTest", "Synchronization", "Glibc", "Darwin", "Testing", "FoundationXML", "FoundationEssentials"}
PRODUCTS = {"ArgumentParser": "ArgumentParser", "ZIPFoundation": "ZIPFoundation"}


def main():
    desc = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, capture_output=True, text=True, check=True)
    import json
    package = json.loads(desc.stdout)
    bad = 0
    for target in package["targets"]:
        name = target["name"]
        deps = set()
        for d in target.get("dependencies", []):
            for kind in ("byName", "target", "product"):
                if kind in d:
                    deps.add(d[kind][0])
        path = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", name)
        for f in glob.glob(os.path.join(ROOT, path, "**", "*.swift"), recursive=True):
            for m in re.finditer(r"^(?:@testable |@_exported )?import (\w+)", open(f).read(), re.M):
                mod = m.group(1)
                if mod in SYSTEM or mod == name or mod in deps:
                    continue
                print(f"{os.path.relpath(f, ROOT)}: imports {mod}, not a declared dependency of {name}")
                bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
