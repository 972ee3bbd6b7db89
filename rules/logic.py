"""The logic expression of a validation rule (``"1 and (2 or not 3)"``): parsed, never ``eval``ed.

Grammar (keywords in any case; condition references are the numbers that key the rule's conditions)::

    expression := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | primary
    primary    := NUMBER | "(" expression ")"

so ``not`` binds tighter than ``and``, which binds tighter than ``or``: ``1 or 2 and not 3`` reads
``1 or (2 and (not 3))``. :func:`parse` returns a small tree of tuples::

    ("ref", "1") | ("not", node) | ("and", (node, node, …)) | ("or", (node, node, …))

or raises :class:`LogicError` saying what is wrong and where (a 1-based character position). The tree is
evaluated by :func:`evaluate`, explained by :func:`blame` (which conditions made it fail) and turned into
SQL by ``rules.compiler``.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 32

Node = tuple

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+)|(?P<word>[A-Za-z_]+)|(?P<paren>[()])|(?P<other>\S))")
KEYWORDS = ("and", "or", "not")


class LogicError(ValueError):
    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only whitespace is left
            break
        start = match.start(match.lastgroup) + 1
        kind, value = match.lastgroup, match.group(match.lastgroup)
        if kind == "word":
            if value.lower() not in KEYWORDS:
                raise LogicError(f"“{value}” at character {start} is not and, or, not or a condition number.", start)
            kind, value = value.lower(), value.lower()
        elif kind == "number":
            value = str(int(value)) if len(value) < 10 else value  # "01" names condition 1
        elif kind == "other":
            raise LogicError(f"“{value}” at character {start} is not allowed: use and, or, not and parentheses.", start)
        tokens.append((kind, value, start))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expected(self, what: str) -> LogicError:
        token = self.peek()
        if token is None:
            return LogicError(f"The expression ends where {what} should follow.", len(self.text.rstrip()) + 1)
        return LogicError(f"Expected {what} at character {token[2]}, found “{token[1]}”.", token[2])

    def parse(self) -> Node:
        if not self.tokens:
            raise LogicError("The logic expression is empty: name the conditions, e.g. “1 and 2”.", 1)
        node = self.expression(0)
        token = self.peek()
        if token is not None:
            if token[0] == "paren" and token[1] == ")":
                raise LogicError(f"The “)” at character {token[2]} closes no “(”.", token[2])
            raise LogicError(
                f"Expected and/or at character {token[2]}, found “{token[1]}”.",
                token[2],
            )
        return node

    def expression(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise LogicError(f"The expression is nested more than {MAX_DEPTH} levels deep.")
        return self.binary(depth, "or", lambda: self.binary(depth, "and", lambda: self.unary(depth)))

    def binary(self, depth: int, keyword: str, operand: Callable[[], Node]) -> Node:
        parts = [operand()]
        while (token := self.peek()) is not None and token[0] == keyword:
            self.take()
            parts.append(operand())
        if len(parts) == 1:
            return parts[0]
        return (keyword, tuple(parts))

    def unary(self, depth: int) -> Node:
        token = self.peek()
        if token is not None and token[0] == "not":
            self.take()
            if depth > MAX_DEPTH:
                raise LogicError(f"The expression is nested more than {MAX_DEPTH} levels deep.")
            return ("not", self.unary(depth + 1))
        return self.primary(depth)

    def primary(self, depth: int) -> Node:
        token = self.peek()
        if token is None or token[0] not in ("number", "paren") or token[1] == ")":
            raise self.expected("a condition number or “(”")
        self.take()
        if token[0] == "number":
            return ("ref", token[1])
        node = self.expression(depth + 1)
        closing = self.peek()
        if closing is None or closing[:2] != ("paren", ")"):
            if closing is None:
                raise LogicError(f"The “(” at character {token[2]} is never closed.", token[2])
            raise self.expected("“)” or and/or")
        self.take()
        return node


def parse(text: Any) -> Node:
    """The tree of ``text``; LogicError when it is not a well-formed expression."""
    if not isinstance(text, str):
        raise LogicError("The logic expression must be text, e.g. “1 and (2 or 3)”.")
    if len(text) > MAX_LENGTH:
        raise LogicError(f"The logic expression is longer than {MAX_LENGTH} characters.")
    return _Parser(text).parse()


def references(node: Node) -> list[str]:
    """The condition numbers the expression names, in the order they first appear."""
    found: dict[str, None] = {}

    def walk(n: Node) -> None:
        if n[0] == "ref":
            found.setdefault(n[1], None)
        elif n[0] == "not":
            walk(n[1])
        else:
            for child in n[1]:
                walk(child)

    walk(node)
    return list(found)


def evaluate(node: Node, values: Mapping[str, bool]) -> bool:
    kind = node[0]
    if kind == "ref":
        return values[node[1]]
    if kind == "not":
        return not evaluate(node[1], values)
    if kind == "and":
        return all(evaluate(child, values) for child in node[1])
    return any(evaluate(child, values) for child in node[1])


def blame(node: Node, values: Mapping[str, bool], want: bool = True) -> list[str]:
    """The conditions responsible for ``node`` not being ``want`` (empty when it is): for "a and b" that
    should hold, the parts that fail; for "a or b", all of them; under a "not", the parts that hold."""
    if evaluate(node, values) == want:
        return []
    kind = node[0]
    if kind == "ref":
        return [node[1]]
    if kind == "not":
        return blame(node[1], values, not want)
    found: dict[str, None] = {}
    for child in node[1]:
        for key in blame(child, values, want):
            found.setdefault(key, None)
    return list(found)


def to_text(node: Node, parent: str = "or") -> str:
    """The canonical text of a tree (lower-case keywords, parentheses only where needed)."""
    kind = node[0]
    if kind == "ref":
        return node[1]
    if kind == "not":
        return f"not {to_text(node[1], 'not')}"
    text = f" {kind} ".join(to_text(child, kind) for child in node[1])
    binds = {"or": 0, "and": 1, "not": 2}
    return f"({text})" if binds[parent] > binds[kind] else text


def conjunction(keys) -> str:
    """The default logic of a list of condition numbers: all of them must hold."""
    return " and ".join(str(key) for key in keys)
