"""`invoke bench`: the recipe's own flow and crosspython's, timed side by side in one run.

plan.py says what runs and in what order (pure), recipe.py is the recipe's flow done faithfully
(in the source tree, no ccache), run.py times both and report.py turns the times into ratios.
"""
