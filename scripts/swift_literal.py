"""Line wrapping for the generated Swift tables (gen_derived_forms.py, gen_verb_forms.py)."""


def wrap(items, limit, start=""):
    """Lines of `items` written one after another, each line begun with `start`; an item that would
    take a line past `limit` characters opens the next one."""
    lines, line = [], start
    for item in items:
        if len(line) + len(item) > limit:
            lines.append(line)
            line = start
        line += item
    lines.append(line)
    return lines
