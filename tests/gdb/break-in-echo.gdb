# The scenario gdb-break-in-driver: a breakpoint on a driver's function in
# the default system stops there, in that driver's address space, and the
# same address in another domain does not stop.
domains
break-in server echo_server::{impl#0}::echo
# $_ is the address of the last breakpoint `info breakpoints` listed.
info breakpoints
break-in client1 *$_
continue
backtrace
continue
delete
continue
