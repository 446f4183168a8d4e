# 002_exported_symbols.pl: what crm.so exports.  PostgreSQL loads modules
# with RTLD_GLOBAL, so every global symbol of crm.so shares one namespace
# with the server and every other loaded library: a helper named
# `dense_solve` or `normal_quantile` could bind to someone else's.  Every
# symbol crm.so defines must therefore be crm_-prefixed, or one of the
# entry points PostgreSQL itself looks up (Pg_magic_func, _PG_init, and the
# pg_finfo_<function> records PG_FUNCTION_INFO_V1 writes).  And every C
# function 0.1.0's install script names must still be there, because an
# upgrade runs the old SQL objects against the new library until
# ALTER EXTENSION crm UPDATE has finished.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
my $library = "$libdir/crm.so";
ok(-f $library, "crm.so is installed in $libdir");

my ($stdout, $stderr);
IPC::Run::run([ 'nm', '-D', '--defined-only', $library ], '>', \$stdout, '2>', \$stderr)
  or die "nm failed: $stderr";
my %exported = map { (split ' ')[2] => 1 } grep { /^\S+\s+[A-Za-z]\s+\S+$/ } split /\n/, $stdout;
cmp_ok(scalar(keys %exported), '>', 100, 'nm lists the symbols crm.so defines');

my @unprefixed = sort grep { !/^(crm_\w+|pg_finfo_crm_\w+|Pg_magic_func|_PG_init)$/ } keys %exported;
is_deeply(\@unprefixed, [], 'every exported symbol is crm_-prefixed or a PostgreSQL entry point')
  or diag('make these static, or prefix them with crm_: ' . join(' ', @unprefixed));

my $old_script = slurp_file("$src/test/upgrade/crm--0.1.0.sql");
my %named;
$named{$1} = 1 while $old_script =~ /AS\s+'MODULE_PATHNAME'\s*,\s*'(\w+)'/g;
cmp_ok(scalar(keys %named), '>', 20, "0.1.0's install script names C functions");
my @missing = sort grep { !$exported{$_} || !$exported{"pg_finfo_$_"} } keys %named;
is_deeply(\@missing, [], "every C function 0.1.0's SQL names is still exported, with its pg_finfo record")
  or diag('keep these names (as aliases if renamed): ' . join(' ', @missing));

done_testing();
