"""A synthetic coaching practice: invented clients and their weekly session notes, for
the benchmarks and the tests.

    python -m coachgen.dev.synthetic OUT [--clients 20] [--sessions 50] [--seed 42]
                                     [--passwords optional|required] [--force]

It writes OUT/coachgen.toml, OUT/clients/<folder>/client.md and one note a week per client
in OUT/clients/<folder>/sessions/YYYY-MM-DD.md. The notes use what a coach's notes use:
front-matter actions (Tasks strings and mappings, some closed later by id), metric values of
every kind, insights and future items; in the body, headings, paragraphs, lists, task lines,
wikilinks to the previous session, comments, private and insight callouts, and tables. Every
note is shared, so every note is a page (as in the Hugo and MkDocs peers of the benchmarks).
A body has 320 to 860 words (a note is about 5 KB).

Deterministic: the same arguments give byte-identical files. Each client draws from its own
random generator, seeded from (seed, client number), so a client's notes do not depend on
how many clients were made.

The clients are invented, so `coachgen.toml` says `passwords = "optional"` and
`overview_password = "none"`: the sites are published without passwords.
`--passwords required` keeps coachgen's default instead and gives every client and the
overview a password in `.coachgen/secrets.toml` (a build then encrypts every site, at the
cost of one key derivation per site).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
from pathlib import Path

from coachgen.privacy.crypto import WORDS as PASSWORD_WORDS
from coachgen.slug import slugify

SHAPES = {1000: (20, 50), 10000: (100, 100)}
"""The benchmarks' sizes: notes -> (clients, sessions per client)."""

TODAY = dt.date(2026, 3, 20)
"""The day the tests and benchmarks build "as of": after every generated session."""

FIRST_SESSION = dt.date(2023, 1, 2)
"""The earliest first session; each client starts within a year of it."""

FIRST_NAMES = ("Amara Bastian Chloé Dmitri Eun-ji Femi Greta Hamid Ingrid Jonah Keiko Lucía Mateo Nia "
               "Oskar Priya Quinn Rafael Sofia Tariq Uma Viktor Wanjiru Xavier Yael Zoë Anders Beatriz "
               "Chen Dalia Émile Fatima Gideon Hanne Idris Jude Kalani Leona Milos Noor Otto Paloma "
               "Rohan Selin Thabo Ulla Vivek Wren").split()
LAST_NAMES = ("Achebe Bergstrom Caruso Dimitrov Eze Fontaine Gallagher Haddad Ibsen Jansen Kapoor Lindgren "
              "Moreno Nakashima Oduya Pereira Quist Rahimi Sørensen Takahashi Urquhart Vasquez Whitfield "
              "Yamamoto Zielinski Abara Brennan Castellanos Delacroix Ekström Fujita Grüber Hollis Iwu "
              "Jovanović Kowalczyk Laine Mbeki Novak O'Connell Petrakis Ruiz Sandoval Tran Ueda Villeneuve "
              "Wolff Xu").split()

# Words for running text: everyday coaching talk, so notes read roughly like notes.
NOUNS = ("week morning evening routine habit plan goal target energy sleep focus walk run workout "
         "meal breakfast lunch dinner water journal calendar deadline meeting project client team "
         "manager partner family weekend commute budget savings pitch proposal launch draft review "
         "feedback boundary priority list reminder streak setback progress pattern trigger reward "
         "practice course chapter lesson network call email invoice price offer story value").split()
VERBS = ("kept started skipped tried finished planned noticed tracked moved booked sent wrote "
         "postponed celebrated questioned simplified protected shared tested cancelled changed "
         "doubled halved enjoyed avoided reviewed scheduled prepared practised").split()
ADJECTIVES = ("steady tired hopeful rushed calm busy light heavy clear vague realistic bold small "
              "early late quiet honest patchy solid new familiar surprising uneven").split()
LINKERS = ("and then so but because while after before although until since when").split()
HEADINGS = ("Check-in", "Since last time", "Wins", "What got in the way", "What we explored",
            "Patterns", "Numbers", "Next steps", "Reflections", "Open questions", "Energy", "Work",
            "Home", "Health", "Money", "Mindset")
CALLOUTS = ("tip", "note", "example", "question", "quote")

# Metric definitions as a coach writes them in client.md: (key, definition, how values are drawn).
NUMBER, COUNT, RATING, HABIT = "number", "count", "rating", "habit"
ALWAYS = [
    ("weight_kg", "{label: Weight, unit: kg, target: %(target)s, by: %(by)s, direction: down}", NUMBER),
    ("calls", "{label: Outreach calls, kind: count, target: %(calls)s, by: %(by)s}", COUNT),
    ("energy", "{label: Energy, kind: rating, scale: 10, target: 8}", RATING),
    ("meditated", "{label: Daily meditation, kind: habit, target: 5/7}", HABIT),
]
SOMETIMES = [
    ("sleep_h", "{label: Sleep, unit: h, target: 7.5}", NUMBER),
    ("steps", "{label: Daily steps, unit: steps, target: 9000}", NUMBER),
    ("workouts", "{label: Workouts a week, target: 4}", NUMBER),
    ("focus", "{label: Focus, kind: rating, scale: 5, target: 4}", RATING),
    ("journaled", "{label: Journaling, kind: habit, target: 0.7}", HABIT),
    ("pages", "{label: Pages written, kind: count, target: 300}", COUNT),
]


def quoted(text: str) -> str:
    """A YAML double-quoted string (JSON's string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


class Client:
    """One invented client: their profile and their notes, drawn from their own generator."""

    def __init__(self, seed: int, number: int, sessions: int):
        self.rng = random.Random(f"coachgen-synthetic:{seed}:{number}")
        rng = self.rng
        self.name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        self.folder = f"{slugify(self.name)}-{number:03d}"
        self.email = f"{self.folder}@example.org"
        self.started = FIRST_SESSION + dt.timedelta(days=rng.randrange(365))
        self.dates = [self.started + dt.timedelta(weeks=i) for i in range(sessions)]
        self.metrics = ALWAYS + rng.sample(SOMETIMES, rng.randint(0, 2))
        self.target_weight = rng.choice([60, 65, 70, 75, 80, 85])
        self.weight = self.target_weight + rng.uniform(5, 15)
        self.open_ids: list[str] = []  # ids of front-matter actions not yet closed

    # -- running text --------------------------------------------------------------------

    def sentence(self, low: int = 6, high: int = 16) -> str:
        rng = self.rng
        words = []
        for i in range(rng.randint(low, high)):
            pool = (NOUNS, NOUNS, VERBS, ADJECTIVES, LINKERS)[i % 5 if rng.random() < 0.6 else rng.randrange(5)]
            words.append(rng.choice(pool))
        if len(words) > 4 and rng.random() < 0.25:  # a little inline Markdown now and then
            i = rng.randrange(1, len(words))
            words[i] = rng.choice(["**%s**", "*%s*", "==%s==", "`%s`"]) % words[i]
        if rng.random() < 0.05:
            words.append("#" + rng.choice(NOUNS))
        words[0] = words[0].capitalize()
        return " ".join(words) + rng.choice(".....!?")

    def paragraph(self, words: int) -> str:
        sentences, count = [], 0
        while count < words:
            sentences.append(self.sentence())
            count += len(sentences[-1].split())
        return " ".join(sentences)

    def task_text(self) -> str:
        rng = self.rng
        return f"{rng.choice(VERBS).capitalize()} the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(NOUNS)}"

    # -- client.md -----------------------------------------------------------------------

    def profile(self) -> str:
        by = (self.started + dt.timedelta(days=365)).isoformat()
        values = {"target": self.target_weight, "by": by, "calls": self.rng.choice([100, 200, 300])}
        lines = ["---", f"name: {quoted(self.name)}", f"email: {self.email}", f"started: {self.started.isoformat()}",
                 f"next_session: {(self.dates[-1] + dt.timedelta(weeks=1)).isoformat()} 10:00", "goals:"]
        lines += [f"  - {quoted(self.sentence(5, 10))}" for _ in range(self.rng.randint(1, 3))]
        lines.append("metrics:")
        lines += [f"  {key}: {definition % values}" for key, definition, _ in self.metrics]
        lines += ["tags: [client]", "---", "", f"# {self.name}", "", "Private background: never published.", "",
                  self.paragraph(self.rng.randint(60, 120)), ""]
        return "\n".join(lines)

    # -- a session note ------------------------------------------------------------------

    def value(self, kind: str, key: str) -> str:
        rng = self.rng
        if key == "weight_kg":
            self.weight += rng.uniform(-0.8, 0.4)
            return f"{self.weight:.1f}"
        if kind == COUNT:
            return str(rng.randint(0, 25))
        if kind == RATING:
            return str(rng.randint(1, 10 if key == "energy" else 5))
        if kind == HABIT:
            return rng.choice(["true", "false", f"{rng.randint(0, 7)}/7"])
        if key == "sleep_h":
            return f"{rng.uniform(5.5, 8.5):.1f}"
        if key == "steps":
            return str(rng.randint(2500, 14000))
        return str(rng.randint(0, 6))  # workouts

    def session(self, index: int) -> str:
        rng = self.rng
        day = self.dates[index]
        title = f"Session {index + 1}: {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        front = ["---", f"date: {day.isoformat()}", f"title: {quoted(title)}",
                 f"duration: {rng.choice([30, 45, 60, 60, 90])}", "actions:"]
        for k in range(rng.randint(2, 4)):
            due = day + dt.timedelta(days=rng.choice([3, 5, 7, 7, 10, 14]))
            if rng.random() < 0.5:  # Obsidian Tasks syntax, with an id a later note can close
                ident = f"s{index + 1}-{k + 1}"
                front.append(f"  - {quoted(f'{self.task_text()} 📅 {due.isoformat()} 🆔 {ident}')}")
                self.open_ids.append(ident)
            else:
                front.append(f"  - text: {quoted(self.task_text())}")
                front.append(f"    due: {due.isoformat()}")
                if rng.random() < 0.5:
                    front.append(f"    done: {(due + dt.timedelta(days=rng.randint(-3, 2))).isoformat()}")
        if self.open_ids and rng.random() < 0.5:  # close an earlier action by its id
            ident = self.open_ids.pop(rng.randrange(len(self.open_ids)))
            front += [f"  - id: {ident}", f"    done: {day.isoformat()}"]
        front.append("metrics:")
        front += [f"  {key}: {self.value(kind, key)}" for key, _, kind in self.metrics]
        if rng.random() < 0.4:
            front += ["insights:", f"  - {quoted(self.sentence(6, 12))}"]
        if rng.random() < 0.25:
            front += ["future:", f"  - {quoted(self.sentence(6, 12))}"]
        front += ["---", ""]
        return "\n".join(front + self.body(index)) + "\n"

    def body(self, index: int) -> list[str]:
        rng = self.rng
        day = self.dates[index]
        target = rng.randint(320, 860)
        extras = {"comment": rng.random() < 0.35, "private": rng.random() < 0.3, "insight": rng.random() < 0.2,
                  "callout": rng.random() < 0.2, "table": rng.random() < 0.25}
        lines: list[str] = []
        words = 0
        tasks_written = False
        for h, heading in enumerate(rng.sample(HEADINGS, len(HEADINGS)) * 4):
            if words >= target and tasks_written:
                break
            lines += [f"## {heading}", ""]
            text = self.paragraph(max(20, min(110, target - words)))
            if h == 0 and index > 0:
                previous = self.dates[index - 1].isoformat()
                text += rng.choice([f" See [[{previous}]].", f" Compare [[{previous}|last week]]."])
            lines += [text, ""]
            words += len(text.split())
            if rng.random() < 0.4:
                items = [self.sentence(3, 9) for _ in range(rng.randint(2, 5))]
                lines += [f"- {item}" for item in items] + [""]
                words += sum(len(item.split()) for item in items)
            if not tasks_written and h >= 1:
                for _ in range(rng.randint(1, 2)):
                    due = day + dt.timedelta(days=rng.choice([4, 7, 10, 14]))
                    if rng.random() < 0.7:
                        lines.append(f"- [ ] {self.task_text()} 📅 {due.isoformat()}")
                    else:
                        lines.append(f"- [x] {self.task_text()} ✅ {due.isoformat()}")
                lines.append("")
                words += 10
                tasks_written = True
            if h >= 1 and extras.pop("comment", False):
                lines += [f"%% {self.sentence(5, 12)} %%", ""]
            if h >= 2 and extras.pop("private", False):
                lines += ["> [!private] Only for me", f"> {self.sentence(8, 16)}", ""]
            if h >= 2 and extras.pop("insight", False):
                lines += [f"> [!insight] {self.sentence(6, 12)}", ""]
            if h >= 3 and extras.pop("callout", False):
                lines += [f"> [!{rng.choice(CALLOUTS)}] {rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS)}",
                          f"> {self.sentence(8, 16)}", ""]
            if h >= 2 and extras.pop("table", False):
                lines += ["| Day | Sleep (h) | Steps | Mood |", "| --- | ---: | ---: | --- |"]
                lines += [f"| {d} | {rng.uniform(5.5, 8.5):.1f} | {rng.randint(2000, 14000)} | "
                          f"{rng.choice(ADJECTIVES)} |"
                          for d in ("Mon", "Tue", "Wed", "Thu", "Fri")]
                lines.append("")
                words += 25
        return lines


def write_vault(out: Path, clients: int = 20, sessions: int = 50, seed: int = 42,
                passwords: str = "optional") -> Path:
    """Write a synthetic vault into `out`, which must be missing or empty. Returns `out`."""
    out = Path(out)
    if passwords not in ("optional", "required"):
        raise ValueError("passwords is 'optional' or 'required'")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    (out / "clients").mkdir(parents=True, exist_ok=True)
    config = ['# A synthetic practice made by `python -m coachgen.dev.synthetic`: every client is invented.',
              'title = "Synthetic Practice"', 'coach = "Sam Example"', 'timezone = "Europe/London"',
              f'passwords = "{passwords}"']
    if passwords == "optional":  # invented clients: the overview too is published without a password
        config.append('overview_password = "none"')
    config.append("")
    write(out / "coachgen.toml", "\n".join(config))
    secrets = ["[passwords]"]
    for number in range(clients):
        client = Client(seed, number, sessions)
        folder = out / "clients" / client.folder
        write(folder / "client.md", client.profile())
        for index, day in enumerate(client.dates):
            write(folder / "sessions" / f"{day.isoformat()}.md", client.session(index))
        password = "-".join(client.rng.choice(PASSWORD_WORDS) for _ in range(7))
        secrets.append(f"{quoted(client.folder)} = {quoted(password)}")
    if passwords == "required":
        coach = random.Random(f"coachgen-synthetic:{seed}:coach")
        secrets += ["", "[coach]", f'password = {quoted("-".join(coach.choice(PASSWORD_WORDS) for _ in range(7)))}']
        write(out / ".coachgen" / "secrets.toml", "\n".join(secrets) + "\n")
    return out


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coachgen.dev.synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the vault's folder (missing or empty)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=50, help="session notes per client, a week apart")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--passwords", choices=["optional", "required"], default="optional",
                        help="optional (default): sites without passwords; required: a password for every site")
    parser.add_argument("--force", action="store_true", help="delete OUT first if it exists")
    opts = parser.parse_args(argv)
    if opts.force and opts.out.exists():
        shutil.rmtree(opts.out)
    try:
        write_vault(opts.out, opts.clients, opts.sessions, opts.seed, opts.passwords)
    except FileExistsError as exc:
        parser.error(f"{exc} (use --force to replace it)")
    size = sum(p.stat().st_size for p in opts.out.rglob("*.md"))
    print(f"wrote {opts.clients} clients x {opts.sessions} sessions ({opts.clients * (opts.sessions + 1)} notes, "
          f"{size / 1e6:.1f} MB) to {opts.out}")


if __name__ == "__main__":
    main()
