"""Executes a notebook top to bottom with nbclient (the kernel is this Python); a failing cell
fails the run with its traceback. The notebook on disk is not modified (outputs stay stripped)."""
import sys

import nbformat
from nbclient import NotebookClient


def main(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=False)
    client.execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("name") == "stdout":
                sys.stdout.write(out["text"])
    print(f"{path}: all {len(nb.cells)} cells ran")


if __name__ == "__main__":
    main(sys.argv[1])
