"""Tiny boolean expression syntax for static CMOS stages.

Grammar (precedence ``!`` > ``&`` > ``|``)::

    expr   := term ('|' term)*
    term   := factor ('&' factor)*
    factor := '!' factor | '(' expr ')' | NAME

``&`` and ``|`` chains are kept n-ary (``A&B&C`` is one node with three
operands) because that is the shape a transistor stack has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Union

_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(.))")


class ExprError(ValueError):
    """An expression that cannot be parsed or is not a valid stage function."""


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Not:
    arg: "Node"


@dataclass(frozen=True)
class And:
    args: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    args: tuple["Node", ...]


Node = Union[Var, Not, And, Or]


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        name, op = m.group(1), m.group(2)
        if op is not None and op not in "!&|()":
            raise ExprError(f"{text!r}: unexpected character {op!r}")
        out.append(name or op)
        pos = m.end()
    return out


def parse(text: str) -> Node:
    """Parse ``text`` into a tree of :class:`Var`, :class:`Not`, :class:`And`, :class:`Or`."""
    toks = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise ExprError(f"{text!r}: expected {expected or 'operand'}, got {tok or 'end'}")
        pos += 1
        return tok

    def expr() -> Node:
        args = [term()]
        while peek() == "|":
            take("|")
            args.append(term())
        return args[0] if len(args) == 1 else Or(tuple(args))

    def term() -> Node:
        args = [factor()]
        while peek() == "&":
            take("&")
            args.append(factor())
        return args[0] if len(args) == 1 else And(tuple(args))

    def factor() -> Node:
        tok = peek()
        if tok == "!":
            take("!")
            return Not(factor())
        if tok == "(":
            take("(")
            node = expr()
            take(")")
            return node
        tok = take()
        if tok in "!&|()":
            raise ExprError(f"{text!r}: expected operand, got {tok!r}")
        return Var(tok)

    node = expr()
    if peek() is not None:
        raise ExprError(f"{text!r}: unexpected {peek()!r}")
    return node


def evaluate(node: Node, values: Mapping[str, int]) -> int:
    """Value (0/1) of ``node`` for the given variable values."""
    if isinstance(node, Var):
        return 1 if values[node.name] else 0
    if isinstance(node, Not):
        return 1 - evaluate(node.arg, values)
    if isinstance(node, And):
        return int(all(evaluate(a, values) for a in node.args))
    return int(any(evaluate(a, values) for a in node.args))


def variables(node: Node) -> list[str]:
    """Variable names in first-seen order."""
    if isinstance(node, Var):
        return [node.name]
    args = (node.arg,) if isinstance(node, Not) else node.args
    return list(dict.fromkeys(v for a in args for v in variables(a)))


def inverting_body(text: str) -> Node:
    """The AND/OR tree inside a stage function ``!(...)``.

    A static CMOS stage can only compute the complement of a monotone function
    of its inputs, so anything else is rejected here rather than miswired later;
    complemented inputs must come from an earlier stage as nets of their own.
    """
    node = parse(text)
    if not isinstance(node, Not):
        raise ExprError(f"{text!r}: a stage must be inverting, written !(...)")
    body = node.arg

    def check(n: Node) -> None:
        if isinstance(n, Not):
            raise ExprError(f"{text!r}: no '!' inside a stage; give the complement its own net")
        if isinstance(n, (And, Or)):
            for a in n.args:
                check(a)

    check(body)
    return body
