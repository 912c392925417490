# tests/cli/hostile_yaml.py - hostile import files of about SIZE bytes
# (security review finding 8), written to OUT:
#
#   python3 hostile_yaml.py KIND SIZE OUT
#
#   alias    one anchored scope list, then entries that all refer to it
#            (expands to thousands of times the input)
#   tokens   a flat list of minimal distinct token entries
#   params   one token with a huge auth_params mapping
#   scope    one token with a huge scope list
#   dupkey   one token whose auth_params mapping has distinct keys and a
#            duplicate as the very last key
#   fleet    as many full token entries as fit under the value limit,
#            the last one a duplicate name (SIZE is ignored)
#   fatfleet the same with long values, filling SIZE bytes
#   fleetok  the fleet without the duplicate: a valid import
#   long     one token whose client_id is a single SIZE-byte scalar
import sys

kind, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
parts = ["sasl-oauth2-export: 1\ntokens:\n"]
n = len(parts[0])


def add(s):
    global n
    parts.append(s)
    n += len(s)


HEAD = "  - name: t0\n    template: generic\n    client_id: c\n"
if kind == "alias":
    add(HEAD + "    scope: &s [" + ", ".join("s%d" % i for i in range(2000)) + "]\n")
    i = 1
    while n < size:
        add("  - {name: e%d, template: generic, client_id: c, scope: *s}\n" % i)
        i += 1
elif kind == "tokens":
    i = 0
    while n < size:
        add("  - {name: e%d, template: generic}\n" % i)
        i += 1
elif kind in ("params", "dupkey"):
    add(HEAD + "    auth_params:\n")
    i = 0
    while n < size:
        add("      k%d: v\n" % i)
        i += 1
    if kind == "dupkey":
        add("      k0: v\n")
elif kind == "scope":
    add(HEAD + "    scope:\n")
    i = 0
    while n < size:
        add("      - s%d\n" % i)
        i += 1
elif kind in ("fleet", "fatfleet", "fleetok"):
    pad = "x" * ((size // 5000 - 260) if kind == "fatfleet" else 0)
    for i in range(5000):
        add("  - name: f%d\n    template: generic\n    user: u%d@example.test\n"
            "    client_id: client-%d%s\n    token_url: https://127.0.0.1:1/token\n"
            "    auth_url: https://127.0.0.1:1/authorize\n    scope: [a, b]\n"
            "    auth_params: {prompt: consent, access_type: offline}\n" % (i, i, i, pad))
    if kind != "fleetok":
        add("  - {name: f0, template: generic}\n")
elif kind == "long":
    add(HEAD.replace("client_id: c", "client_id: " + "c" * (size - n - 40)))
else:
    sys.exit("unknown kind " + kind)
with open(out, "w") as f:
    f.write("".join(parts))
