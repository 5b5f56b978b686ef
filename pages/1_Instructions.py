"""Instruction Lab: see how a task instruction changes query–document similarities and rankings."""

from components import page
from components.views import instructions

instructions.render(page.setup("Instruction Lab", "🧪"))
