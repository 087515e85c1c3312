#!/bin/sh
# prepare.sh rebuilds the task data in this folder from Debian packages:
#   apt-get install bible-kjv bsdgames
# bible-kjv-text holds the King James Version (public domain; the bible
# program that decodes it is GPL-2+ but only the text is kept here) and
# bsdgames the quiz files (BSD licence). See PROVENANCE.md.
# The output is deterministic: run it again and git diff shows nothing.
set -eu
cd "$(dirname "$0")"
command -v bible >/dev/null || { echo "prepare.sh: apt-get install bible-kjv" >&2; exit 1; }
Q=/usr/share/games/bsdgames/quiz
[ -d "$Q" ] || { echo "prepare.sh: apt-get install bsdgames" >&2; exit 1; }
export LC_ALL=C

# One verse per line: "Book C:V<TAB>text". bible prints a "Book C" header,
# then "  V text" with wrapped continuation lines.
echo | COLUMNS=100000 bible -l100000 gen1:1-rev22:21 | awk '
  /^[A-Z0-9][A-Za-z0-9 ]* [0-9]+$/ { n = split($0, w, " "); ch = w[n]; book = substr($0, 1, length($0) - length(ch) - 1); next }
  /^ +[0-9]+ / { if (v != "") print book " " ch ":" v "\t" t; sub(/^ +/, ""); v = $1; sub(/^[0-9]+ /, ""); t = $0; next }
  /^[^ ]/ { if (v != "") t = t " " $0 }
  END { if (v != "") print book " " ch ":" v "\t" t }' > /tmp/kjv-verses.tsv

# json escapes a string for a JSONL "text" field.
jsonl_text() { awk -F '\t' '{ s = $0; gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); print "{\"text\": \"" s "\"}" }'; }

# kjv-ot: the pretraining corpus of the wider base (Genesis..Malachi),
# verses joined into records of about 600 characters.
mkdir -p kjv-ot kjv-nt quiz-qa continents
awk -F '\t' '$1 ~ /^Matthew 1:1$/ { exit } { print $2 }' /tmp/kjv-verses.tsv |
  awk '{ r = (r == "" ? $0 : r " " $0); if (length(r) > 600) { print r; r = "" } } END { if (r != "") print r }' > /tmp/kjv-ot.txt
awk 'NR % 50 != 0' /tmp/kjv-ot.txt | jsonl_text > kjv-ot/train.jsonl
awk 'NR % 50 == 0' /tmp/kjv-ot.txt | jsonl_text > kjv-ot/valid.jsonl

# kjv-nt: task 1, domain adaptation (perplexity on held-out records): the New
# Testament, every 10th record held out, alternately for validation (where
# sweeps choose settings) and test (what they report).
awk -F '\t' 'go || $1 ~ /^Matthew 1:1$/ { go = 1; print $2 }' /tmp/kjv-verses.tsv |
  awk '{ r = (r == "" ? $0 : r " " $0); if (length(r) > 300) { print r; r = "" } } END { if (r != "") print r }' > /tmp/kjv-nt.txt
awk 'NR % 10 != 0 && NR <= 2000' /tmp/kjv-nt.txt | jsonl_text > kjv-nt/train.jsonl
awk 'NR % 20 == 10' /tmp/kjv-nt.txt | jsonl_text > kjv-nt/valid.jsonl
awk 'NR % 20 == 0' /tmp/kjv-nt.txt | jsonl_text > kjv-nt/test.jsonl

# quiz-qa: task 2, question answering scored by exact match: capitals,
# opposites, collective nouns and the multiplication table from bsdgames'
# quiz (a held-out 7 x 3 can be answered from a trained 3 x 7).
# A line is "question:answer"; alternatives (a|b) and optional parts ({x})
# keep their first plain form; repeated pairs are kept once. Every 5th pair is held out, alternately for
# validation and test.
# clean drops optional parts ({x}, nested once), keeps the first of the
# alternatives in [a|b], and removes the overstruck accents (e BS ') the
# quiz files use, leaving plain ASCII (the two-byte ring of A-ring first:
# stripped byte by byte it left an invalid UTF-8 lead byte, "\xc2Aland").
clean() {
  sed -e "s/$(printf '\302\260\010')//g" -e "s/{[^{}]*}//g" -e "s/{[^{}]*}//g" -e "s/[^A-Za-z]$(printf '\010')//g" -e "s/$(printf '\010')[^A-Za-z]//g" \
    -e 's/\[\([^]|]*\)[^]]*\]/\1/g' "$1"
}
qa() { # file, question template with %s
  clean "$Q/$1" | grep -v '^#' | grep ':' |
    awk -F ':' -v tpl="$2" '{ q = $1; a = $2; sub(/\|.*/, "", q); sub(/\|.*/, "", a); gsub(/\\/, "", q); gsub(/\\/, "", a);
      if (q != "" && a != "") printf "%s\t%s\n", sprintf(tpl, q), a }'
}
{ qa africa "The capital of %s is"; qa asia "The capital of %s is"; qa europe "The capital of %s is"; qa america "The capital of %s is"
  qa posneg "The opposite of %s is"; qa collectives "A group of %s is a"; qa mult "%s ="; } | awk '!seen[$0]++' |
  awk -F '\t' '{ gsub(/"/, "\\\"", $1); gsub(/"/, "\\\"", $2);
    line = "{\"prompt\": \"" $1 "\", \"completion\": \" " $2 ".\"}"; if (NR % 10 == 5) print line > "quiz-qa/valid.jsonl"; else if (NR % 10 == 0) print line > "quiz-qa/test.jsonl"; else print line > "quiz-qa/train.jsonl" }'

# continents: task 3, classification: which continent's quiz a country
# comes from, scored by accuracy of the class head. The class names start
# with different letters (africa, west for the Americas, orient for Asia,
# europe) because tok512's first token of a word is about its first letter,
# and the head reads one token per class. Every 4th country is held out,
# alternately for validation and test.
for c in africa:africa america:west asia:orient europe:europe; do
  clean "$Q/${c%%:*}" | grep ':' | awk -F ':' -v c="${c#*:}" '{ q = $1; sub(/\|.*/, "", q); if (q != "") print q "\t" c }'
done | sort -t '	' -k1,1 | awk -F '\t' '{ gsub(/"/, "\\\"", $1);
  line = "{\"prompt\": \"" $1 " is in\", \"completion\": \" " $2 "\"}"; if (NR % 8 == 4) print line > "continents/valid.jsonl"; else if (NR % 8 == 0) print line > "continents/test.jsonl"; else print line > "continents/train.jsonl" }'
# Two tasks built to move on the small bases, from the same public-domain
# text. Every 8th example is held out, alternately for validation and test.
# snip cuts records into passages of at least 100 characters (whole words).
snip() { awk -v max="$1" '{ n = split($0, w, " "); s = ""; for (i = 1; i <= n; i++) { s = (s == "" ? w[i] : s " " w[i]);
  if (length(s) >= 100) { if (c++ < max) print s; s = "" } } }'; }
# split8 writes JSONL lines from stdin into $1/{train,valid,test}.jsonl,
# in groups of $2 consecutive lines (a group stays in one split).
split8() { awk -v d="$1" -v g="$2" '{ k = int((NR - 1) / g) + 1; f = (k % 8 == 4 ? "valid" : k % 8 == 0 ? "test" : "train"); print > (d "/" f ".jsonl") }'; }
mkdir -p testament lastword
# testament: task 4, classification: is a passage from the Old or the New
# Testament? Old passages come from the records held out of kjv-wide's
# pretraining (the base never saw them), new ones from the New Testament;
# 400 of each, interleaved, so the majority baseline is 0.5.
awk 'NR % 50 == 0' /tmp/kjv-ot.txt | snip 400 > /tmp/kjv-old.txt
awk 'NR % 10 != 0' /tmp/kjv-nt.txt | snip 400 > /tmp/kjv-new.txt
paste -d '\n' /tmp/kjv-old.txt /tmp/kjv-new.txt | awk '{ gsub(/"/, "\\\""); c = (NR % 2 ? "old" : "new");
  print "{\"prompt\": \"" $0 "\\nTestament:\", \"completion\": \" " c "\"}" }' | split8 testament 2
# lastword: task 5, generation scored by exact match: copy the last word of
# a passage (punctuation stripped). Nothing to know, a format to learn and
# a copy over a few tokens to make: the base scores near 0, a tuned model
# can score near 1. 800 passages from the New Testament.
# A passage ends at its first word of 5+ letters after 80 characters, so
# the answer is rarely a function word (majority baseline: the commonest).
awk 'NR % 10 != 0' /tmp/kjv-nt.txt | awk '{ gsub(/[^A-Za-z ]/, ""); n = split($0, w, " "); s = "";
  for (i = 1; i <= n; i++) { s = (s == "" ? w[i] : s " " w[i]); if (length(s) >= 80 && length(w[i]) >= 5) { if (c++ < 800) print s "\t" w[i]; s = "" } } }' |
  awk '!seen[$0]++' | awk -F '\t' '{ print "{\"prompt\": \"" $1 "\\nLast word:\", \"completion\": \" " $2 ".\"}" }' | split8 lastword 1
rm -f /tmp/kjv-verses.tsv /tmp/kjv-ot.txt /tmp/kjv-nt.txt /tmp/kjv-old.txt /tmp/kjv-new.txt
wc -l */*.jsonl
