"""The manual pages lint clean, document everything the programs know, and their
examples are true (SPEC 2, STYLE "man pages linted; a test checks every config key
and control command is documented").

Single sources of truth, read here as the compiler sees them:
- common/config_keys.h  CONFIG_SECTIONS(X) and CONFIG_KEYS(X): every config key, with
  its type, default and description -> llmgate.yaml(5) (generated at build time by
  man/gen_config_keys.c; this test parses the header itself, so a generator that
  drops a key fails too);
- common/control_commands.h  CONTROL_COMMANDS(X): every control command -> llmgatectl(8);
- the getopt_long tables of supervisor/main.c, ctl/ctl.c and ctl/probe.c -> llmgated(8)
  and llmgatectl(8).
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from helpers import BUILD, LLMGATED, ROOT

PAGES = {
    "llmgated.8": os.path.join(ROOT, "man", "llmgated.8"),
    "llmgatectl.8": os.path.join(ROOT, "man", "llmgatectl.8"),
    "llmgate.yaml.5": os.path.join(BUILD, "man", "llmgate.yaml.5"),
}

TYPES = {  # config_keys.h type -> what llmgate.yaml(5) prints (struct config_key_doc.type)
    "STRING": "string", "SECRET": "secret", "URL": "url", "ADDRESS": "address",
    "BOOL": "boolean", "INT": "integer", "NUMBER": "number", "DURATION": "duration",
    "LIST": "list", "MAPPING": "mapping", "FALLBACKS": "fallbacks", "HEADERS": "headers",
    "PARAM": "request parameter", "ADVISORY": "accepted, ignored", "IGNORED": "ignored",
}


def read(name):
    path = PAGES[name]
    assert os.path.exists(path), f"{path} is missing (is {BUILD} built?)"
    with open(path) as f:
        return f.read()


def read_source(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


# --- a small reader for the X-macro tables ------------------------------------------------

def macro_body(text, name):
    """The replacement text of #define NAME(X), continuation lines joined."""
    m = re.search(r"^#define " + re.escape(name) + r"\(X\)(.*?)(?<!\\)\n", text,
                  flags=re.M | re.S)
    assert m, f"#define {name}(X) not found"
    return m.group(1).replace("\\\n", " ")


def c_string_value(token, defines):
    """A C expression of adjacent string literals, a macro naming one, or NULL."""
    token = token.strip()
    if token == "NULL":
        return None
    if token in defines:
        return defines[token]
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', token)
    assert parts, f"not a string: {token!r}"
    return bytes("".join(parts), "utf-8").decode("unicode_escape")


def x_rows(body):
    """The argument lists of every X(...) in a macro body, split at top-level commas."""
    rows, i = [], 0
    while True:
        i = body.find("X(", i)
        if i < 0:
            return rows
        depth, j, args, cur, in_str = 0, i + 2, [], "", False
        while True:
            c = body[j]
            if in_str:
                cur += c
                if c == "\\":
                    cur += body[j + 1]
                    j += 1
                elif c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
                cur += c
            elif c == "(":
                depth += 1
                cur += c
            elif c == ")" and depth == 0:
                args.append(cur.strip())
                break
            elif c == ")":
                depth -= 1
                cur += c
            elif c == "," and depth == 0:
                args.append(cur.strip())
                cur = ""
            else:
                cur += c
            j += 1
        rows.append(args)
        i = j


def config_table():
    text = read_source("common", "config_keys.h")
    defines = {m.group(1): c_string_value(m.group(2), {})
               for m in re.finditer(r'^#define (\w+)\s+("(?:[^"\\]|\\.)*")\s*$', text, flags=re.M)}
    sections = {a[0]: c_string_value(a[1], defines)
                for a in x_rows(macro_body(text, "CONFIG_SECTIONS"))}
    keys = []
    for args in x_rows(macro_body(text, "CONFIG_KEYS")):
        assert len(args) == 5, f"a CONFIG_KEYS row is X(section, key, type, default, description): {args}"
        section, key, ktype, default, description = args
        keys.append({
            "section": sections[section], "key": key, "type": ktype,
            "default": c_string_value(default, defines),
            "description": c_string_value(description, defines),
        })
    return keys


def page_sections(page):
    """llmgate.yaml(5)'s KEYS subsections: {section name: mdoc text}."""
    keys_part = page.split("\n.Sh KEYS\n", 1)[1].split("\n.Sh ", 1)[0]
    out = {}
    for chunk in re.split(r"^\.Ss ", keys_part, flags=re.M)[1:]:
        title, _, body = chunk.partition("\n")
        title = title.replace("\\&", "").strip().strip('"')
        out["" if title == "top level" else title] = body
    return out


def items(body):
    """{key: text of its .It item} for the tagged list items of one subsection."""
    out = {}
    for chunk in re.split(r"^(?=\.It )", body, flags=re.M):
        m = re.match(r"\.It Cm (\S+) Pq (.+)\n", chunk)
        if m:
            text = re.split(r"^\.(?:El|Pp\nOpenAI|Pp\nLiteLLM)", chunk[m.end():], flags=re.M)[0]
            out[m.group(1)] = {"type": m.group(2), "text": text}
    return out


def plain(mdoc):
    """Text lines of mdoc, words only: macros dropped, escapes undone, one space between words."""
    words = []
    for line in mdoc.splitlines():
        if line.startswith("."):
            line = re.sub(r"^\.\w+\s*", "", line)
            line = re.sub(r"\b(?:Cm|Ar|Fl|Li|Pq|Ns|No|Ql|Ic|Dv|Ev|Pa)\b", "", line)
        words += line.replace("\\&", "").replace("\\e", "\\").replace("\\-", "-").split()
    return " ".join(words)


# --- lint -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PAGES))
def test_lint_clean(name):
    if not shutil.which("mandoc"):
        pytest.fail("mandoc is not installed (scripts/deps installs it)")
    read(name)
    r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", PAGES[name]],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# --- config keys ------------------------------------------------------------------------

def test_key_table_is_parsed():
    keys = config_table()
    assert len(keys) > 100
    assert {"section": "llmgate.fallback", "key": "cooldown", "type": "DURATION",
            "default": "30s", "description": "time in fallback before probing the primary"} in keys
    assert all(k["type"] in TYPES for k in keys), {k["type"] for k in keys} - set(TYPES)
    assert all(k["description"] for k in keys), [k["key"] for k in keys if not k["description"]]


def test_every_config_key_is_documented_with_type_and_default():
    sections = page_sections(read("llmgate.yaml.5"))
    problems = []
    for k in config_table():
        where = f"{k['section'] or 'top level'}.{k['key']}"
        body = sections.get(k["section"])
        if body is None:
            problems.append(f"{where}: no subsection '{k['section'] or 'top level'}'")
            continue
        if k["type"] in ("PARAM", "IGNORED"):
            if not re.search(r"^\.Cm " + re.escape(k["key"]) + r" [.,]$", body, flags=re.M):
                problems.append(f"{where}: not listed")
            continue
        item = items(body).get(k["key"])
        if item is None:
            problems.append(f"{where}: no '.It Cm {k['key']} Pq {TYPES[k['type']]}'")
            continue
        if item["type"] != TYPES[k["type"]]:
            problems.append(f"{where}: type {item['type']!r}, table says {TYPES[k['type']]!r}")
        text = plain(item["text"])
        if plain(k["description"]) not in text:
            problems.append(f"{where}: description {k['description']!r} missing")
        if k["default"] is not None and f"Default: {plain(k['default'])}" not in text:
            problems.append(f"{where}: default {k['default']!r} missing")
        if k["default"] is None and "Default:" in text:
            problems.append(f"{where}: documents a default the table does not have")
    assert not problems, "llmgate.yaml(5) vs common/config_keys.h:\n" + "\n".join(problems)


def test_no_undocumented_key_is_invented():
    table = {(k["section"], k["key"]) for k in config_table()}
    for section, body in page_sections(read("llmgate.yaml.5")).items():
        for key in re.findall(r"^\.(?:It )?Cm (\w+)", body, flags=re.M):
            assert (section, key) in table, f"llmgate.yaml(5) documents {section}.{key}, unknown to the loader"


# --- control commands -------------------------------------------------------------------

def control_commands():
    rows = x_rows(macro_body(read_source("common", "control_commands.h"), "CONTROL_COMMANDS"))
    assert rows, "CONTROL_COMMANDS(X) has no rows"
    return [{"name": r[0].replace("_", "-"), "mutating": r[1] == "true",
             "args": c_string_value(r[2], {}), "help": c_string_value(r[3], {})} for r in rows]


def test_every_control_command_is_documented():
    page = read("llmgatectl.8")
    commands_part = page.split("\n.Sh COMMANDS\n", 1)[1].split("\n.Sh ", 1)[0]
    entries = {}
    for chunk in re.split(r"^(?=\.It Cm )", commands_part, flags=re.M)[1:]:
        entries[chunk.split()[2]] = chunk
    cmds = control_commands()
    assert len(cmds) >= 8
    for c in cmds:
        assert c["name"] in entries, f"control command '{c['name']}' missing from llmgatectl(8) COMMANDS"
        entry = entries[c["name"]].lower()
        for word in re.findall(r"[a-z]+", c["args"].lower()):
            assert word in entry, f"'{c['name']}': argument '{word}' ({c['args']}) not documented"
        if c["mutating"]:
            # the permission paragraph names every mutating command
            assert re.search(r"\b" + re.escape(c["name"]) + r"\b", commands_part.split(".Bl", 1)[0]), \
                f"'{c['name']}' changes the daemon but is not named as needing root or the daemon's user"
    names = {c["name"] for c in cmds}
    extra = set(entries) - names
    assert not extra, f"llmgatectl(8) documents commands the daemon does not have: {extra}"
    assert "\n.Sh PROBE\n" in page and ".Cm probe" in page


def test_protocol_and_socket_are_documented():
    page = read("llmgatectl.8")
    for needle in ('{"command": ', '"args": [', '{"ok": true, "result": ...}', '"ok": false',
                   "/run/llmgate/control.sock", "0660", "SO_PEERCRED"):
        assert needle in page, needle


# --- options ----------------------------------------------------------------------------

def long_options(*parts):
    src = read_source(*parts)
    return re.findall(r'\{"([a-z-]+)", (?:no|required|optional)_argument, NULL, \'(\w)\'\}', src)


@pytest.mark.parametrize("source,page", [
    (("supervisor", "main.c"), "llmgated.8"),
    (("ctl", "ctl.c"), "llmgatectl.8"),
    (("ctl", "probe.c"), "llmgatectl.8"),
])
def test_every_option_is_documented(source, page):
    options = long_options(*source)
    assert len(options) >= 3, f"no getopt_long table found in {'/'.join(source)}"
    text = read(page)
    for long, short in options:
        assert re.search(r"^\.It Fl " + short + r" , Fl \\-" + re.escape(long) + r"\b", text, flags=re.M), \
            f"{'/'.join(source)}: -{short}, --{long} not documented in {page}"


def test_llmgated_page_has_what_an_operator_looks_for():
    page = read("llmgated.8")
    for section in ("SIGNALS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert f"\n.Sh {section}\n" in page, section
    for needle in ("SIGHUP", "SIGTERM", "SIGINT", "NOTIFY_SOCKET", "WATCHDOG_USEC", "LISTEN_FDS",
                   "/etc/llmgate/llmgate.yaml", "/etc/llmgate/llmgate.env", "/run/llmgate/control.sock",
                   "AmbientCapabilities=CAP_NET_BIND_SERVICE", "drain_timeout"):
        assert needle in page, needle
    for level in ("error", "warning", "notice", "info", "debug"):
        assert f".Cm {level}" in page, level


def test_litellm_compatibility_is_documented():
    page = read("llmgate.yaml.5")
    assert "\n.Sh LITELLM COMPATIBILITY\n" in page
    assert "os.environ/" in page and "${" in page and "deployment_id" in page


# --- the examples are true --------------------------------------------------------------

def literal_blocks(page, section):
    part = page.split(f"\n.Sh {section}\n", 1)[1].split("\n.Sh ", 1)[0]
    return re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed$", part, flags=re.M | re.S)


def check(config_text, name, env):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, name), "w") as f:
            f.write(config_text)
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "LITELLM_KEY",
                                 "LLMGATE_MASTER_KEY")}
        full_env.update(env)
        r = subprocess.run([LLMGATED, "--check", "-c", name], cwd=d, env=full_env,
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr


def test_llmgated_check_example_matches_the_real_output():
    blocks = literal_blocks(read("llmgated.8"), "EXAMPLES")
    config = blocks[0]
    transcript = blocks[1].replace("\\e", "\\")
    assert "${AZURE_OPENAI_API_KEY}" in config and "deployment_id:" in config
    assert transcript.startswith("$ llmgated --check -c litellm.config.yaml\n")
    expected_out = transcript.split("\n", 1)[1].split("$ echo $?")[0]
    expected_rc = int(transcript.split("$ echo $?\n", 1)[1].split()[0])
    rc, out = check(config, "litellm.config.yaml", {})
    assert rc == expected_rc
    assert " ".join(out.split()) == " ".join(expected_out.split()), \
        f"llmgated(8) EXAMPLES shows:\n{expected_out}\nllmgated --check prints:\n{out}"


def test_llmgate_yaml_examples_check():
    blocks = [b.replace("\\e", "\\") for b in literal_blocks(read("llmgate.yaml.5"), "EXAMPLES")]
    configs = [b for b in blocks if b.startswith("model_list:")]
    assert len(configs) == 3, "the seed config, its portable form, and the fallback config"
    seed, portable, fallback = configs
    keys = {"AZURE_OPENAI_API_KEY": "azure-example-key-0000000001",
            "LITELLM_KEY": "sk-example-litellm-0000000001",
            "LLMGATE_MASTER_KEY": "sk-example-master-0000000001"}
    rc, out = check(seed, "seed.yaml", keys)
    assert rc == 0 and "LiteLLM sends it literally" in out and "deployment_id" in out, out
    rc, out = check(seed, "seed.yaml", {})
    assert rc == 1 and "'AZURE_OPENAI_API_KEY' is not set" in out, out
    for config in (portable, fallback):
        rc, out = check(config, "llmgate.yaml", keys)
        assert rc == 0 and "(0 errors, 0 warnings)" in out, out
    assert 'fallbacks: [{"gpt-4o": ["gpt-4o-azure"]}]' in fallback
