#!/usr/bin/env python3
"""Licenses of tidepool's resolved dependency tree (every feature, every
target, dev-dependencies included), from `cargo metadata`: the direct
dependencies with their kind, requirement and license, then every crate of
the tree grouped by license expression, with counts. `make licenses`."""

import collections
import json
import subprocess
import sys

COPYLEFT = ("GPL", "LGPL", "AGPL", "MPL", "EPL", "CDDL", "EUPL", "OSL", "CC-BY-SA")


def main() -> int:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    root_id = meta["resolve"]["root"]
    root = packages[root_id]
    root_node = next(n for n in meta["resolve"]["nodes"] if n["id"] == root_id)
    # The versions tidepool itself resolved to (a crate may be in the tree twice).
    by_name = {p["name"]: p for p in meta["packages"]}
    by_name.update({packages[d["pkg"]]["name"]: packages[d["pkg"]] for d in root_node["deps"]})

    print("direct dependencies of tidepool:")
    for dep in sorted(root["dependencies"], key=lambda d: (d["kind"] or "", d["name"])):
        kind = {None: "normal", "dev": "dev", "build": "build"}[dep["kind"]]
        if dep["optional"]:
            kind += ", optional"
        if dep.get("target"):
            kind += f", {dep['target']}"
        resolved = by_name.get(dep["name"])
        license = resolved["license"] if resolved else "?"
        print(f"  {dep['name']:<30} {dep['req']:<12} {kind:<28} {license}")

    tree = [p for pid, p in packages.items() if pid != root_id]
    groups = collections.defaultdict(list)
    for p in tree:
        groups[p.get("license") or "(none: see license_file)"].append(f"{p['name']} {p['version']}")
    print(f"\n{len(tree)} crates in the resolved tree (all features, all targets, dev included), by license:")
    for license, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"  {len(names):>4}  {license}")
    copyleft = sorted(lic for lic in groups if any(tag in lic for tag in COPYLEFT))
    if copyleft:
        print("\nwith a copyleft option (check the expression: `OR` means a choice):")
        for lic in copyleft:
            print(f"  {lic}: {', '.join(sorted(groups[lic]))}")
    else:
        print("\nnone copyleft")
    if "-v" in sys.argv[1:]:
        for license, names in sorted(groups.items()):
            print(f"\n{license}:\n  " + "\n  ".join(sorted(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
