"""Which command lines build a report, and the dry run that checks them."""

from wsss.report_check import asks_for_report, without_report_options


def test_a_report_command_is_checked_unless_it_runs_the_workflow_first():
    assert asks_for_report(["--cores", "2", "--report", "r.html"])
    assert asks_for_report(["--report=r.html"])
    assert not asks_for_report(["--report", "r.html", "--report-after-run"])
    assert not asks_for_report(["--cores", "all", "--report-stylesheet", "s.css"])


def test_the_dry_run_keeps_every_option_but_the_report_ones():
    argv = ["--report", "r.html", "--configfile", "c.yaml", "--report-stylesheet=s.css", "--reporter", "html", "-n"]
    assert without_report_options(argv) == ["--configfile", "c.yaml", "-n"]
    assert without_report_options(["--report", "--cores", "2"]) == ["--cores", "2"]  # --report's path is optional
