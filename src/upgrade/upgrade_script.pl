#!/usr/bin/perl
# src/upgrade/upgrade_script.pl: builds the upgrade script from a released
# version to the current one (the Makefile runs it; see README "Upgrading").
#
#   perl src/upgrade/upgrade_script.pl EXTENSION FROM TO RELEASED_SCRIPT STEP_DIR PART...
#
# RELEASED_SCRIPT is the install script of version FROM as it shipped
# (test/upgrade/crm--FROM.sql); the PARTs are the current sources the
# install script is made of (src/<feature>/*.sql in the Makefile's order).
# The upgrade plays the current sources against a database made by the
# released script, so a function or view changed since needs no copy in the
# upgrade: each statement of each part is, in order,
#
#   replayed as CREATE OR REPLACE   CREATE FUNCTION, PROCEDURE, AGGREGATE,
#                                   VIEW and TRIGGER (so changed ones are
#                                   replaced, new ones created);
#   left out when FROM has it       CREATE TABLE, INDEX, DOMAIN, TYPE,
#                                   SEQUENCE, POLICY, EVENT TRIGGER, ... of
#                                   a name the released script created:
#                                   the object exists, holding data, so the
#                                   step's own SQL changes it in place;
#   always run                      COMMENT, GRANT, REVOKE and
#                                   pg_extension_config_dump calls, which
#                                   state the result whatever was before;
#   left out when FROM ran it       any other statement (seed rows, DO
#                                   blocks, ALTER TABLE ...) the released
#                                   script holds word for word; it ran when
#                                   FROM was installed, and seed rows the
#                                   users edited or deleted since stay so.
#
# What that cannot express is written by hand in STEP_DIR
# (src/upgrade/FROM--TO/): <feature>/<file>.sql runs just before the part
# src/<feature>/<file>.sql (new columns and constraints of old tables,
# functions to drop because their result type changed, data to move), and
# finish.sql runs last (constraints on functions created late, old objects
# that are gone, settings migrated).  The upgrade test compares the result
# with a fresh install through the catalogs, so whatever is missing shows.
use strict;
use warnings;

sub slurp
{
	my ($file) = @_;
	open(my $fh, '<', $file) or die "$0: cannot read $file: $!\n";
	local $/;
	my $text = <$fh>;
	close($fh);
	return $text;
}

# statements(TEXT): the SQL statements of TEXT, in order, each as
# [leading comments and blanks, the statement with its ';', the statement
# normalised: comments dropped, blanks outside literals collapsed, keywords
# and names outside literals in lower case].  psql's own rules: quotes,
# E'' strings, "identifiers", $tag$ bodies, -- and nested /* */ comments,
# and the BEGIN ATOMIC ... END bodies of SQL functions, whose ';' do not end
# the statement.  Lines starting with a backslash (psql's \echo ... \quit
# guard) are left out.
sub statements
{
	my ($text) = @_;
	my @result;
	my ($lead, $raw, $norm) = ('', '', '');
	my @words;				# the statement's words, outside literals and comments
	my $depth = 0;			# BEGIN ATOMIC / CASE nesting in a CREATE FUNCTION
	my $name = qr/[A-Za-z_][A-Za-z_0-9\$]*/;
	pos($text) = 0;
	while (pos($text) < length($text))
	{
		my $blank;
		if ($raw eq '' && $text =~ /\G\\[^\n]*\n?/gc)
		{
			next;				# a psql meta-command line
		}
		if ($text =~ /\G(\s+|--[^\n]*)/gc)
		{
			$blank = $1;
		}
		elsif ($text =~ /\G\/\*/gc)
		{
			my $level = 1;
			my $start = pos($text) - 2;
			while ($level > 0)
			{
				if ($text =~ /\G\/\*/gc) { $level++; }
				elsif ($text =~ /\G\*\//gc) { $level--; }
				elsif ($text =~ /\G[^\/*]+|\G[\/*]/gc) { }
				else { die "$0: unterminated comment\n"; }
			}
			$blank = substr($text, $start, pos($text) - $start);
		}
		if (defined $blank)
		{
			if ($raw eq '') { $lead .= $blank; }
			else { $raw .= $blank; $norm .= ' ' unless $norm =~ / \z/; }
			next;
		}
		my $token;
		if ($text =~ /\G([Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|"(?:[^"]|"")*")/gcs)
		{
			$token = $1;		# a string or a quoted name
			$norm .= $token;
		}
		elsif ($text =~ /\G(\$(?:$name)?\$)/gc)
		{
			my $tag = $1;		# a dollar-quoted body
			my $start = pos($text) - length($tag);
			my $end = index($text, $tag, pos($text));
			die "$0: unterminated $tag quote\n" if $end < 0;
			pos($text) = $end + length($tag);
			$token = substr($text, $start, pos($text) - $start);
			$norm .= $token;
		}
		elsif ($text =~ /\G($name)/gc)
		{
			$token = $1;
			my $word = lc($token);
			$norm .= $word;
			push @words, $word;
			if ("@words[0 .. ($#words < 3 ? $#words : 3)]" =~ /\Acreate (or replace )?(function|procedure)\b/)
			{
				if ($word eq 'atomic' && $words[-2] eq 'begin') { $depth++; }
				elsif ($word eq 'case' && $depth > 0) { $depth++; }
				elsif ($word eq 'end' && $depth > 0) { $depth--; }
			}
		}
		elsif ($depth == 0 && $text =~ /\G;/gc)
		{
			$raw .= ';';
			$norm .= ';';
			$norm =~ s/\s*;\z/;/;
			push @result, [ $lead, $raw, $norm ];
			($lead, $raw, $norm, @words) = ('', '', '');
			next;
		}
		else
		{
			$text =~ /\G(.)/gcs;
			$token = $1;
			$norm .= $token;
		}
		$raw .= $token;
	}
	die "$0: text after the last statement: $raw\n" if $raw =~ /\S/;
	push @result, [ $lead, '', '' ] if $lead ne '';
	return @result;
}

# The kind and name of the object a CREATE statement makes, from its
# normalised text: 'table crm.deal', 'index deal_owner_idx',
# 'policy name on crm.deal'; undef for other statements.
sub created_object
{
	my ($norm) = @_;
	my $name = qr/(?:"(?:[^"]|"")*"|[a-z_][a-z_0-9\$]*)(?:\.(?:"(?:[^"]|"")*"|[a-z_][a-z_0-9\$]*))?/;
	return undef unless $norm =~ /\Acreate /;
	my $kind = join('|', 'table', 'unique index', 'index', 'domain', 'type', 'sequence', 'event trigger',
					'materialized view', 'schema', 'cast', 'operator', 'collation', 'statistics', 'text search \w+',
					'foreign table', 'server', 'publication', 'role', 'conversion');
	if ($norm =~ /\Acreate (?:unlogged )?($kind)(?: concurrently)?(?: if not exists)? ($name)/)
	{
		my ($kind, $object) = ($1, $2);
		$kind = 'index' if $kind eq 'unique index';
		return "$kind $object";
	}
	if ($norm =~ /\Acreate policy ($name) on ($name)/)
	{
		return "policy $1 on $2";
	}
	return undef;
}

sub replaceable
{
	my ($norm) = @_;
	return $norm =~ /\Acreate (?:or replace )?(?:function|procedure|aggregate|view|recursive view|trigger) /;
}

sub always_run
{
	my ($norm) = @_;
	return $norm =~ /\A(?:comment on|grant|revoke|security label) /
	  || $norm =~ /\Aselect (?:pg_catalog\.)?pg_extension_config_dump\(/;
}

sub main
{
	my ($extension, $from, $to, $released, $step_dir, @parts) = @_;
	die "usage: $0 EXTENSION FROM TO RELEASED_SCRIPT STEP_DIR PART...\n" unless @parts;

	# What the released script made and ran.
	my (%released_object, %released_statement);
	for my $s (statements(slurp($released)))
	{
		my $norm = $s->[2];
		next if $norm eq '';
		$released_statement{$norm} = 1;
		my $object = created_object($norm);
		$released_object{$object} = 1 if defined $object;
	}

	# The hand-written SQL of the step: each file names the part it precedes.
	my %hook;
	for my $file (sort glob("$step_dir/*/*.sql"))
	{
		(my $part = $file) =~ s{\A\Q$step_dir\E/}{src/};
		$hook{$part} = $file;
	}
	my %is_part = map { $_ => 1 } @parts;
	for my $part (sort keys %hook)
	{
		die "$0: $hook{$part} precedes $part, which is not part of the install script\n"
		  unless $is_part{$part};
	}

	print "\\echo Use \"ALTER EXTENSION $extension UPDATE TO '$to'\" to load this file. \\quit\n";
	print "-- Upgrade of $extension from $from to $to, built by src/upgrade/upgrade_script.pl from\n";
	print "-- $step_dir and the sources of $to (how: the comment at the top of that script).\n";
	for my $part (@parts)
	{
		if ($hook{$part})
		{
			print "\n-- ===== $hook{$part} =====\n", slurp($hook{$part});
		}
		print "\n-- ===== $part (replayed) =====\n";
		for my $s (statements(slurp($part)))
		{
			my ($lead, $raw, $norm) = @$s;
			print $lead;
			next if $norm eq '';
			my $object = created_object($norm);
			my $first_line = (split /\n/, $raw)[0];
			if (replaceable($norm))
			{
				$raw =~ s/\ACREATE\s+(?!OR\s+REPLACE\b)/CREATE OR REPLACE /i
				  or $raw =~ /\ACREATE\s+OR\s+REPLACE\b/i
				  or die "$0: $part: cannot make this replaceable: $first_line\n";
				print $raw;
			}
			elsif (defined $object)
			{
				if ($released_object{$object}) { print "-- $from has it: $first_line"; }
				else { print $raw; }
			}
			elsif (always_run($norm) || !$released_statement{$norm})
			{
				print $raw;
			}
			else
			{
				print "-- $from ran it: $first_line";
			}
		}
	}
	my $finish = "$step_dir/finish.sql";
	print "\n-- ===== $finish =====\n", slurp($finish) if -e $finish;
}

main(@ARGV) unless caller;
1;
