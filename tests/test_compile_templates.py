"""Sandboxed Jinja2 templates: rendering, guards and static checks."""

from __future__ import annotations

import time

import pytest

from engine.compile import (
    TemplateProblem,
    TemplateRenderError,
    check_expression,
    check_template,
    render,
    render_expression,
)

CONTEXT = {"company": "Snowy Peak", "name": "Ada", "authenticated": False}
KNOWN = {**CONTEXT, "context": CONTEXT, "agent": "auth", "graph": "retail"}


def test_render_sees_context_both_ways() -> None:
    source = "{{ company }} / {{ context.company }} / {{ agent }}@{{ graph }}\n"
    assert render(source, KNOWN, name="t") == "Snowy Peak / Snowy Peak / auth@retail\n"  # trailing newline kept


def test_render_does_not_escape_html() -> None:
    assert render("{{ x }}", {"x": "<b>&</b>"}, name="t") == "<b>&</b>"


def test_render_undefined_is_an_error_with_name_and_line() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render("line one\n{{ context.nmae }}", KNOWN, name="prompts/a.md.j2")
    assert info.value.name == "prompts/a.md.j2"
    assert info.value.line == 2
    assert str(info.value).startswith("prompts/a.md.j2:2: ")


def test_render_is_sandboxed() -> None:
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render("{{ context.__class__.__mro__ }}", KNOWN, name="t")
    with pytest.raises(TemplateRenderError):
        render("{{ context.update({'x': 1}) }}", KNOWN, name="t")  # immutable sandbox
    assert "x" not in CONTEXT


def test_check_template_syntax_error_with_line() -> None:
    problems = check_template("Hello\n\n{{ company }\nmore", KNOWN)
    assert len(problems) == 1
    assert problems[0].code == "E401"
    assert problems[0].line == 3
    unknown_filter = check_template("a\n{{ company | shout }}", KNOWN)
    assert unknown_filter == [TemplateProblem(2, "No filter named 'shout'.", "E401")]


def test_a_template_python_cannot_compile_is_a_finding_not_a_crash() -> None:
    # Jinja2 turns each `for` into a Python block; Python refuses more than 20 nested blocks.
    nested = "{% for a in company %}" * 25 + "x" + "{% endfor %}" * 25
    (problem,) = check_template(nested, KNOWN)
    assert problem.code == "E401" and "nests too deeply" in problem.message


def test_check_template_undefined_with_did_you_mean() -> None:
    source = "Hi {{ company }}\n{{ compnay }}\n\n{% if context.nmae %}x{% endif %}\n{{ context['zzz'] }}\n"
    problems = check_template(source, KNOWN)
    assert problems == [
        TemplateProblem(2, "undefined variable 'compnay' (did you mean 'company'?)", "E402"),
        TemplateProblem(4, "undefined variable 'context.nmae' (did you mean 'name'?)", "E402"),
        TemplateProblem(5, "undefined variable 'context.zzz'", "E402"),
    ]


def test_check_template_accepts_declared_and_guarded_names() -> None:
    source = (
        "{% for i in range(2) %}{{ loop.index }}{{ i }}{% endfor %}"
        "{% set greeting = 'hi' %}{{ greeting }}"
        "{% if later is defined %}{{ later }}{% endif %}"
        "{{ context.later | default('none') }}{{ context.get('later') }}{{ context.name }}"
    )
    assert check_template(source, KNOWN) == []


def test_check_template_reports_each_name_once() -> None:
    problems = check_template("{{ x }}\n{{ x }}", KNOWN)
    assert [p.line for p in problems] == [1]


def test_args_are_checked_in_tool_templates() -> None:
    known = {**KNOWN, "args": {"order_id": None}}
    source = "/orders/{{ args.order_id }}/{{ args.ordr_id }}"
    assert check_template(source, known) == []  # only `context` unless asked
    problems = check_template(source, known, checked=("context", "args"))
    assert problems == [TemplateProblem(1, "undefined variable 'args.ordr_id' (did you mean 'order_id'?)", "E402")]


def test_guards() -> None:
    assert render_expression("context.authenticated or name == 'Ada'", KNOWN) is True
    assert render_expression("context.authenticated", KNOWN) is False
    with pytest.raises(TemplateRenderError, match="later"):
        render_expression("context.later", KNOWN)
    # Lenient: a key a tool has not set yet reads as missing (None), not an error.
    assert render_expression("context.later", KNOWN, strict=False) is None
    assert not render_expression("context.later and true", KNOWN, strict=False)
    assert render_expression("context.later.deeper", KNOWN, strict=False) is None


def test_check_expression() -> None:
    assert check_expression("context.authenticated and agent == 'auth'", KNOWN) == []
    assert check_expression("context.authentcated", KNOWN) == [
        TemplateProblem(1, "undefined variable 'context.authentcated' (did you mean 'authenticated'?)", "E402")
    ]
    (syntax,) = check_expression("context.x )", KNOWN)
    assert syntax.code == "E401"
    (trailing,) = check_expression("a b", {"a": 1, "b": 2})
    assert trailing.code == "E401"


def test_check_template_refuses_what_the_sandbox_refuses() -> None:
    """`''.__class__.__mro__` and friends are reported before anything renders, once per chain."""
    source = (
        "ok {{ company }}\n{{ ''.__class__.__mro__ }}\n{{ context['__class__'] }} {{ cycler.__init__.__globals__ }}"
    )
    problems = check_template(source, {**KNOWN, "cycler": None})
    assert [(p.line, p.code) for p in problems] == [(2, "E403"), (3, "E403"), (3, "E403")]
    assert "'__class__' is not allowed" in problems[0].message
    assert "'__init__' is not allowed" in problems[2].message
    (guard,) = check_expression("context._private", KNOWN)
    assert guard.code == "E403"


def test_render_errors_of_any_kind_are_template_errors() -> None:
    """A template's own expression failing (1/0, 'a' + 1) is a TemplateRenderError with its line."""
    with pytest.raises(TemplateRenderError) as info:
        render("fine\n{{ 1 / 0 }}", KNOWN, name="t.j2")
    assert info.value.line == 2 and "ZeroDivisionError" in str(info.value)
    with pytest.raises(TemplateRenderError, match="TypeError"):
        render_expression("1 + 'a'", KNOWN)


# --- resource limits ---------------------------------------------------------------------------------

HUGE = [
    ("{{ 'a' * n }}", "the repeated value would be"),
    ("{{ [0] * n }}", "the repeated value would be"),
    ("{{ m ** n }}", "the power would have"),
    ("{{ '%0*d' % (n, 1) }}", "width of"),
    ("{{ '{:>{}}'.format(1, n) }}", "format argument of"),
    ("{{ 'a'.ljust(n) }}", "'ljust' with"),
    ("{{ 'a'|center(n) }}", "'center' with"),
    ("{{ 'a'|indent(n) }}", "'indent' with"),
    ("{{ [1]|batch(n, 0)|list }}", "'batch' with"),
    ("{{ ('a' * 100000)|replace('', 'bbbbbbbbbbbbbbb') }}", "the replaced text would be"),
    ("{{ range(n)|list }}", "Range too big"),
    (
        "{% for a in range(k) %}{% for b in range(k) %}{% for c in range(k) %}{% endfor %}{% endfor %}{% endfor %}",
        "loops run more than",
    ),
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "the joined text would be",
    ),
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "the joined value would be",
    ),
    ("{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('a') }}", "the joined text would be"),
    (
        "{% for i in range(k * 50) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}",
        "renders more than 1,000,000 characters",
    ),
]


@pytest.mark.parametrize(("source", "message"), HUGE)
def test_rendering_is_bounded(source: str, message: str) -> None:
    """Values computed at run time: refused before they are built, in well under a second."""
    start = time.monotonic()
    with pytest.raises(TemplateRenderError, match=message.replace("(", r"\(")):
        render(source, {"n": 10**9, "m": 10, "k": 1000}, name="t")
    assert time.monotonic() - start < 1.5


def test_guards_are_bounded() -> None:
    with pytest.raises(TemplateRenderError, match="the repeated value"):
        render_expression("('a' * n)|length > 3", {"n": 10**9})


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 10**9 }}",
        "{{ range(10**9)|list }}",
        "{{ 10 ** 10 ** 10 ** 10 ** 10 }}",  # left-associative in Jinja2: 10 ** 10000
        "{{ 10 ** (10 ** 10) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'a'.zfill(1000000000) }}",
        "{{ 'a'|center(1000000000) }}",
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
    ],
)
def test_limits_written_with_constants_are_found_before_rendering(source: str) -> None:
    [problem] = check_template(source, KNOWN)
    assert problem.code == "E405" and problem.line == 1
    # The guard's static check sees them too.
    if source.startswith("{{"):
        assert [p.code for p in check_expression(source[2:-2], KNOWN)] == ["E405"]


def test_nested_loops_are_located_at_the_loop_that_crosses_the_limit() -> None:
    source = "{% for a in range(100) %}\n{% for b in range(100) %}\n{% for c in range(100) %}\n{% endfor %}{% endfor %}{% endfor %}"
    [problem] = check_template(source, KNOWN)
    assert (problem.code, problem.line) == ("E405", 3) and "1,000,000 times (nested loops multiply)" in problem.message


def test_ordinary_templates_stay_within_the_limits() -> None:
    source = (
        "{{ '%05d'|format(42) }} {{ '{:>6}'.format('x') }} {{ 'ab' * 3 }} {{ 2 ** 64 }} {{ [1, 2] + [3] }} "
        "{% for i in range(300) %}{% for j in range(300) %}{% endfor %}{% endfor %}{{ 'a' ~ 'b' }} {{ items|join(',') }}"
    )
    assert check_template(source, {**KNOWN, "items": []}) == []
    out = render(source, {"items": ["x", "y"]}, name="t")
    assert out == "00042      x ababab 18446744073709551616 [1, 2, 3] ab x,y"


def test_big_numbers_are_values_not_sizes() -> None:
    variables = {"total": 10**12}
    assert render("{{ '{} cents'.format(total) }} {{ '%d'|format(total) }}", variables, name="t") == (
        "1000000000000 cents 1000000000000"
    )
