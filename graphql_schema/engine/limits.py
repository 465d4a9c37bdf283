"""Size limits on a document, checked in time linear in its size, before it is validated or executed.

What a document costs to execute is set by what it expands to, not by its length: a fragment spread
twice is resolved twice, so ``fragment F1 on Query { ...F2 ...F2 } fragment F2 on Query { ...F3 ...F3 } …``
doubles its fields with every fragment, and 20 of them (824 bytes) expand to half a million fields.
Here each fragment is measured once and the result reused at every spread (fragments are measured in
dependency order, a spread that closes a cycle counts nothing: validation refuses cycles anyway), so
measuring is linear in the document's size whatever it expands to, and a document whose expansion
exceeds a limit is refused before any step that grows with the expansion.

Validation comes after these checks, and one of graphql-core's rules (OverlappingFieldsCanBeMerged)
compares every pair of fields that share a response name: ``{ machines { id } machines { id } … }``
with 800 repetitions took 15 s to be refused under graphql-core's default work budget (500,000
comparisons). ``VALIDATION_BUDGET`` lowers that budget to what an ordinary document never reaches
(the dashboard's operations and the standard introspection query spend none of it) and keeps the
worst refusal within a few tens of milliseconds. The same is done for the budget of shared fragments.

Introspection (``__schema``, ``__type``) is measured apart from data: the standard introspection queries
nest 13 to 15 fields deep through ``ofType`` chains, past any depth limit meant for data, yet each level
there returns one type. The data depth limit counts data fields only; introspection has its own depth
bound, which every standard query fits (graphql-core's ``get_introspection_query`` with every option and
``type_depth`` up to 14, GraphiQL's, gql's, Apollo's), and the bound of graphql-js's
MaxIntrospectionDepthRule on what does multiply: ``fields``, ``interfaces``, ``possibleTypes`` and
``inputFields`` nested three deep (``__schema { types { fields { type { fields { type { fields …``).
Aliases and fields count everywhere.

The measures are kept per query text: clients send few distinct documents many times.

Parsing, which comes first, costs what the text holds: graphql-core's lexer is Python, ~5 µs per token
and 0.05-0.1 µs per character of whitespace, comment or string. ``ParserLimits`` bounds both with the
parser's own options: a number of tokens (parsing stops at the next one) and a length in characters,
checked before lexing (a 15 MB comment, a handful of tokens that the body limit lets through, kept the
event loop busy for 2 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import validation_context
from graphql.validation.rules import overlapping_fields_can_be_merged
from strawberry.extensions import SchemaExtension, ValidationCache

from graphql_schema.engine.constants import DOCUMENT_CACHE_SIZE

#: Units of graphql-core's OverlappingFieldsCanBeMerged budget (about one per pair of same-named fields
#: compared): ~20 µs each for fields with sub-selections, measured here, so the worst refusal costs ~40 ms.
VALIDATION_BUDGET = 2_000
#: graphql-core's budget of work on fragments shared between operations (spreads and variable usages).
FRAGMENT_WORK_BUDGET = 5_000
overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = VALIDATION_BUDGET
validation_context.MAX_FRAGMENT_WORK = FRAGMENT_WORK_BUDGET

ABORTED = "Validation aborted."
TOO_MANY_ERRORS = "Too many validation errors, error limit reached. Validation aborted."
ABORT_EXPLAINED = (
    "The document is too costly to validate: fields that share a response name in one selection are compared "
    "pairwise, and this document repeats them too often (or nests shared fragments too deeply). Select each "
    "field once per selection (merge repeated fields, or give them distinct aliases) and split large documents."
)
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
#: Fields of ``__Type`` that return lists of types or fields: nested, they multiply the answer.
INTROSPECTION_LISTS = frozenset({"fields", "interfaces", "possibleTypes", "inputFields"})
#: Deepest introspection nesting allowed; the standard queries reach 15 with type_depth 9, 20 with 14.
MAX_INTROSPECTION_DEPTH = 20
#: Most INTROSPECTION_LISTS fields nested in one another (graphql-js refuses 3, as here).
MAX_INTROSPECTION_LISTS = 2
TOO_MANY_ERRORS_EXPLAINED = (
    "Validation stopped after 100 errors: the errors above are the first 100. Fix them and send the document again."
)


@dataclass(frozen=True, slots=True)
class Size:
    """What a selection expands to, fragments spread in place as they would execute."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0
    #: Nesting under ``__schema``/``__type`` (not in ``depth``), and of INTROSPECTION_LISTS fields there.
    introspection_depth: int = 0
    lists: int = 0

    def __add__(self, other: Size) -> Size:
        return Size(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.fields + other.fields,
            max(self.introspection_depth, other.introspection_depth),
            max(self.lists, other.lists),
        )


NOTHING = Size()


def measure(document: DocumentNode) -> Size:
    """Deepest nesting of any operation, and aliases and fields summed over all of them, in linear time."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    sizes: dict[str, Size] = {}
    for name in dependency_order(fragments):
        sizes[name] = _size(fragments[name].selection_set, sizes)
    total = NOTHING
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total += _size(definition.selection_set, sizes)
    return total


def _size(selections: SelectionSetNode | None, fragments: dict[str, Size]) -> Size:
    """The size of ``selections``; a spread of a fragment not (yet) in ``fragments`` counts nothing."""
    total = NOTHING
    for node in selections.selections if selections is not None else ():
        if isinstance(node, FieldNode):
            inner = _size(node.selection_set, fragments)
            aliases, fields, name = inner.aliases + (node.alias is not None), 1 + inner.fields, node.name.value
            if name in INTROSPECTION_ROOTS:
                total += Size(0, aliases, fields, 1 + inner.depth, inner.lists)
            else:
                lists = inner.lists + (name in INTROSPECTION_LISTS)
                total += Size(1 + inner.depth, aliases, fields, inner.introspection_depth, lists)
        elif isinstance(node, InlineFragmentNode):
            total += _size(node.selection_set, fragments)
        elif isinstance(node, FragmentSpreadNode):
            total += fragments.get(node.name.value, NOTHING)
    return total


def dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Fragment names, each after every fragment it spreads (an iterative depth-first post-order)."""
    order: list[str] = []
    state: dict[str, bool] = {}  # False while on the stack, True once placed
    for root in fragments:
        if root in state:
            continue
        state[root] = False
        stack = [(root, iter(_spreads(fragments[root].selection_set)))]
        while stack:
            name, pending = stack[-1]
            following = next((spread for spread in pending if spread in fragments and spread not in state), None)
            if following is None:
                stack.pop()
                state[name] = True
                order.append(name)
            else:
                state[following] = False
                stack.append((following, iter(_spreads(fragments[following].selection_set))))
    return order


def _spreads(selections: SelectionSetNode | None) -> Iterator[str]:
    for node in selections.selections if selections is not None else ():
        if isinstance(node, FragmentSpreadNode):
            yield node.name.value
        elif isinstance(node, FieldNode | InlineFragmentNode):
            yield from _spreads(node.selection_set)


class ParserLimits(SchemaExtension):
    """The parser's limits on a document's tokens and characters (module docstring), for every operation."""

    def __init__(self, *, max_tokens: int, max_length: int) -> None:
        self.max_tokens = max_tokens
        self.max_length = max_length

    def on_operation(self) -> Iterator[None]:
        execution_context = self.execution_context
        options = execution_context.parse_options
        options["max_tokens"] = self.max_tokens
        options["max_source_length"] = self.max_length  # type: ignore[typeddict-unknown-key]  # graphql-core 3.3's, not in Strawberry's TypedDict
        query = execution_context.query
        if query is not None and len(query) > self.max_length:
            # Refused before lexing either way, but the error's location is found by scanning the text for line
            # breaks (three times, as the error is built and copied): the first characters over the limit suffice.
            execution_context.query = query[: self.max_length + 1]
        yield


class DocumentLimits(ValidationCache):
    """Refuses documents over the size limits before validating them; validates (cached) the others.

    Refusing here, in the validation phase, covers queries, mutations and subscriptions alike, and comes
    before access control: the limits protect the server from anyone who can reach it.
    """

    def __init__(self, *, max_depth: int, max_aliases: int, max_fields: int) -> None:
        super().__init__(maxsize=DOCUMENT_CACHE_SIZE)
        self.max_depth = max_depth
        self.max_aliases = max_aliases
        self.max_fields = max_fields

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        document = execution_context.graphql_document
        assert document is not None  # the validation phase starts only once the document parsed
        problem = self.problem(_measured(execution_context.query or "", document))
        if problem is not None:
            execution_context.pre_execution_errors = [GraphQLError(problem, extensions={"code": "BAD_USER_INPUT"})]
        else:
            errors = self.cached_validate_document(
                execution_context.schema._schema, document, execution_context.validation_rules
            )
            execution_context.pre_execution_errors = [_explained(error) for error in errors]
        yield

    def problem(self, size: Size) -> str | None:
        if size.depth > self.max_depth:
            return f"query depth {size.depth} exceeds the limit of {self.max_depth}"
        if size.introspection_depth > MAX_INTROSPECTION_DEPTH:
            return (
                f"introspection depth {size.introspection_depth} exceeds the limit of {MAX_INTROSPECTION_DEPTH}; "
                "the standard introspection queries stay within it"
            )
        if size.lists > MAX_INTROSPECTION_LISTS:
            return (
                f"introspection nests fields/interfaces/possibleTypes/inputFields {size.lists} deep, over the limit "
                f"of {MAX_INTROSPECTION_LISTS}; the standard introspection queries stay within it"
            )
        if size.aliases > self.max_aliases:
            return f"{size.aliases} aliases exceed the limit of {self.max_aliases}"
        if size.fields > self.max_fields:
            return (
                f"the document selects {_count(size.fields)} fields once its fragments are expanded, over the limit "
                f"of {self.max_fields}; a fragment spread twice counts twice: select fewer fields or split the document"
            )
        return None


def _count(number: int) -> str:
    """Expansions grow exponentially; a count of hundreds of digits says less than its order of magnitude."""
    return f"{number:,}" if number < 10**12 else f"about 10^{len(str(number)) - 1}"


_MEASURED: dict[str, Size] = {}


def _measured(query: str, document: DocumentNode) -> Size:
    """``measure(document)``, kept per query text (the text's parsed document is cached too)."""
    size = _MEASURED.get(query)
    if size is None:
        if len(_MEASURED) >= DOCUMENT_CACHE_SIZE:
            _MEASURED.clear()
        size = _MEASURED[query] = measure(document)
    return size


def _explained(error: GraphQLError) -> GraphQLError:
    """graphql-core's abort messages, replaced by what caused the abort and how to avoid it."""
    explanation = {ABORTED: ABORT_EXPLAINED, TOO_MANY_ERRORS: TOO_MANY_ERRORS_EXPLAINED}.get(error.message)
    if explanation is None:
        return error
    return GraphQLError(explanation, extensions={**(error.extensions or {}), "code": "BAD_USER_INPUT"})
