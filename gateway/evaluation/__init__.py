"""Online evaluation, shared by the ``evaluate`` processor and the Sigil receiver's evaluation API.

Sigil's evaluation rules and API shapes (the names credit where they come from; nothing here
imports a format package):

* :mod:`.evaluators`: the evaluator kinds (``regex``, ``json_schema``, ``heuristic``) and what
  they read from a record;
* :mod:`.llm_judge`: the ``llm_judge`` config, prompt templates and answer parsing;
* :mod:`.judge` (provider clients) and :mod:`.judging` (the bounded, budgeted queue of pending
  judgments that never delays a generation);
* :mod:`.selectors`: which generations a rule (or a ``filter``) looks at;
* :mod:`.definitions`: evaluator and rule definitions (match, sampling) compiled from YAML or
  from the API;
* :mod:`.store`: the persisted definitions the API writes and every ``evaluate`` processor reads.
"""
