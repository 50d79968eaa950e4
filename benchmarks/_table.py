"""The one table format every benchmark prints: measured value, goal, and peer where one exists."""

def print_table(title, rows):
    """rows: dicts with keys metric, value, goal (text), met (bool or None), peer (optional text), note (optional)."""
    cols = ["metric", "value", "goal", "met", "peer", "note"]
    cells = [[str(r.get(c, "")) if c != "met" else ("yes" if r.get("met") else ("no" if r.get("met") is False else "-"))
              for c in cols] for r in rows]
    w = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(cols)))
    print("  ".join("-" * w[i] for i in range(len(cols))))
    for x in cells: print("  ".join(v.ljust(w[i]) for i, v in enumerate(x)))
