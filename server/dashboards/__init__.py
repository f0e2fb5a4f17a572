"""Read models above the features: views that span several features' data (the learner's
dashboard, a mentor's group view). They query nothing themselves: they call each owning
feature's service and assemble the answer, so no feature has to import another to show it."""
