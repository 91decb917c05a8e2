# Programs and #! scripts written at run time, run by execve: a script
# whose interpreter is /bin/echo with an argument, one for the shell that
# exits 7, and a script whose interpreter is that script.
cat > /tmp/args <<'END'
#!/bin/echo first-arg
never read: echo prints its arguments
END
chmod +x /tmp/args
/tmp/args x "y z"
echo "args exited $?"
cat > /tmp/exit7 <<'END'
#!/bin/sh -e
echo "script $0 got $1"
exit 7
END
chmod +x /tmp/exit7
/tmp/exit7 one
echo "exit7 exited $?"
printf '#!/tmp/exit7\n' > /tmp/nested
chmod +x /tmp/nested
/tmp/nested two
echo "nested exited $?"
rm /tmp/args /tmp/exit7 /tmp/nested
