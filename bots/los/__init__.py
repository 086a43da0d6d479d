"""The loan origination system (LOS, 信贷系统): decisions posted by screen, once."""
