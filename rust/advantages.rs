//! Advantage estimators (GRPO family, RLOO, REINFORCE++, GAE, ...).
