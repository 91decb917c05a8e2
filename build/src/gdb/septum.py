# gdb helpers for Septum. `cargo xtask gdb` writes a script that defines
# SESSION (the kernel, the programs with their fingerprints, the domains)
# and then this file; see build/src/gdb/mod.rs and docs/debugging.md.
#
# Every task's program is a static ELF linked at 4 MiB, so their symbols
# overlap, and gdb 13 cannot hold two objfiles at one address without
# confusing them (`backtrace` can fail an internal assertion). So gdb holds
# the kernel's symbols and those of one program at a time, the one in
# focus: when the machine stops in user mode, the program running there
# (told by its fingerprint, read through the current CR3) comes into focus
# before the stop is shown; in the kernel, the program last seen running
# under the current CR3. `break-in` resolves a location in the domain's
# program and sets a breakpoint at its address that stops only in that
# program.

import gdb

_focus = None  # index into SESSION["programs"] of the program loaded
_spaces = {}  # CR3 -> the program seen running in that address space


def _quiet(command):
    return gdb.execute(command, to_string=True)


def _programs():
    return SESSION["programs"]


def focus_program(index):
    """Load the symbols of program `index` (None: no task's), dropping the previous one's."""
    global _focus
    if index == _focus:
        return
    if _focus is not None:
        _quiet('remove-symbol-file "%s"' % _programs()[_focus]["path"])
    if index is not None:
        _quiet('add-symbol-file "%s"' % _programs()[index]["path"])
    _focus = index
    try:
        # Frames computed with the old symbols must go.
        _quiet("maintenance flush register-cache")
    except gdb.error:
        pass  # not connected yet


def user_mode():
    try:
        return int(gdb.parse_and_eval("$cs")) & 3 == 3
    except gdb.error:
        return False


def cr3():
    return int(gdb.parse_and_eval("$cr3")) & ~0xFFF


def loaded_program():
    """The program whose address space is loaded: by its fingerprint in user
    mode; in the kernel, the one last seen running under this CR3."""
    if user_mode():
        return running_program()
    try:
        return _spaces.get(cr3())
    except gdb.error:
        return None


def running_program():
    """The index of the program the CPU runs in user mode, or None."""
    if not user_mode():
        return None
    inferior = gdb.selected_inferior()
    for index, program in enumerate(_programs()):
        fp = program["fingerprint"]
        if fp is None:
            continue
        try:
            word = int.from_bytes(inferior.read_memory(fp[0], 8).tobytes(), "little")
        except gdb.MemoryError:
            continue
        if word == fp[1]:
            _spaces[cr3()] = index
            return index
    return None


def domains_of(index):
    name = _programs()[index]["name"]
    return [d["name"] for d in SESSION["domains"] if d["program"] == name]


def program_of(name):
    """The program index of domain `name` (or of the program called `name`)."""
    for d in SESSION["domains"]:
        if d["name"] == name:
            name = d["program"]
            break
    for index, program in enumerate(_programs()):
        if program["name"] == name:
            return index
    raise gdb.GdbError(
        "no domain or program is named %r; `domains` lists them" % name
    )


class InDomain(gdb.Breakpoint):
    """A breakpoint that stops only while its program runs."""

    def __init__(self, spec, domain, program):
        super().__init__(spec)
        self.septum_domain = domain
        self.septum_program = program

    def stop(self):
        return running_program() == self.septum_program


class BreakIn(gdb.Command):
    """Usage: break-in DOMAIN LOCATION
A breakpoint at LOCATION (a function, FILE:LINE or *ADDRESS, looked up in
DOMAIN's program) that stops only while DOMAIN's program runs it. Every
task's program is linked at 4 MiB, so a plain `break` at a task's address
stops in whichever address space executes that address. Domains that run
the same program share its breakpoints; `domains` lists them."""

    def __init__(self):
        super().__init__("break-in", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, argument, from_tty):
        words = argument.split(None, 1)
        if len(words) != 2:
            raise gdb.GdbError("usage: break-in DOMAIN LOCATION")
        domain, location = words
        index = program_of(domain)
        if _programs()[index]["fingerprint"] is None:
            gdb.write(
                "warning: %s has no fingerprint (another program has the same code):"
                " this breakpoint stops in either\n" % _programs()[index]["name"]
            )
        before = _focus
        focus_program(index)
        try:
            _, sals = gdb.decode_line(location)
            if not sals:
                raise gdb.GdbError("%s: no such location in %s" % (location, domain))
            for sal in sals:
                InDomain("*%#x" % sal.pc, domain, index)
        finally:
            focus_program(before)


class Focus(gdb.Command):
    """Usage: focus DOMAIN
Load DOMAIN's program's symbols (in place of the program in focus), to
`list` its code or `info address` its functions while the machine is
stopped elsewhere. A stop in user mode brings the running program into
focus by itself."""

    def __init__(self):
        super().__init__("focus", gdb.COMMAND_FILES)

    def invoke(self, argument, from_tty):
        if not argument.strip():
            raise gdb.GdbError("usage: focus DOMAIN")
        focus_program(program_of(argument.strip()))


class Domains(gdb.Command):
    """List the system's domains, their programs, and which one runs now."""

    def __init__(self):
        super().__init__("domains", gdb.COMMAND_STATUS)

    def invoke(self, argument, from_tty):
        running = loaded_program()
        mark = "  <- runs now" if user_mode() else "  <- its address space is loaded"
        gdb.write("%-16s %-20s %s\n" % ("domain", "program", "fingerprint"))
        for d in SESSION["domains"]:
            index = program_of(d["name"])
            fp = _programs()[index]["fingerprint"]
            shown = "%#x = %#018x" % (fp[0], fp[1]) if fp else "none (same code as another)"
            here = mark if index == running else ""
            gdb.write("%-16s %-20s %s%s\n" % (d["name"], d["program"], shown, here))


class Console(gdb.Command):
    """Usage: console [N]
The last N (default 30) lines of the system's console."""

    def __init__(self):
        super().__init__("console", gdb.COMMAND_STATUS)

    def invoke(self, argument, from_tty):
        path = SESSION.get("console")
        if not path:
            raise gdb.GdbError("this run's console is captured, not written to a file")
        n = int(argument) if argument.strip() else 30
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        for line in lines[-n:]:
            gdb.write(line + "\n")


def on_stop():
    """Run by hook-stop, before the stop is shown: focus the running program."""
    index = loaded_program()
    if index is None:
        return
    names = domains_of(index)
    who = "domain %s" % names[0] if len(names) == 1 else "one of the domains %s" % ", ".join(names)
    program = _programs()[index]["name"]
    focus_program(index)
    if user_mode():
        gdb.write("[septum] in %s (program %s, CR3 %#x)\n" % (who, program, cr3()))
    else:
        gdb.write(
            "[septum] in the kernel, in the address space of %s (program %s, CR3 %#x)\n"
            % (who, program, cr3())
        )


for command in [
    "set pagination off",
    "set confirm off",
    "set print asm-demangle on",
    # An internal error of gdb ends it rather than asking (no one may be there to answer).
    "maint set internal-error quit yes",
    "maint set internal-error corefile no",
    "maint set internal-warning quit no",
    "maint set internal-warning corefile no",
]:
    _quiet(command)
_quiet('file "%s"' % SESSION["kernel"])
BreakIn()
Focus()
Domains()
Console()
gdb.execute(
    """define hook-stop
python on_stop()
end"""
)
# Quitting gdb ends QEMU too (gdb would only detach from it).
gdb.execute(
    """define hook-quit
python
try:
    gdb.execute("kill")
except gdb.error:
    pass
end
end"""
)
gdb.execute("target remote %s" % SESSION["socket"])
