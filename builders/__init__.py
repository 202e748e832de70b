"""Model-driven candidate generation: rationales, counterfactuals and QA-explanation triples."""
