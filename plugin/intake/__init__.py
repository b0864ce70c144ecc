"""What the host tells about customers and orders, and what it sets off (see
:mod:`plugin.intake.operations`)."""
