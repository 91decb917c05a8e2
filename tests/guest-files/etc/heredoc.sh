# A here-document into a file, read back.
cat > /tmp/heredoc <<END
first line of the here-document
second line, with $((6 * 7))
END
wc -l /tmp/heredoc
cat /tmp/heredoc
