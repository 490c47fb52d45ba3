"""The words the tiny pipelines' tokenizers know whole (everything else splits into pieces).

A few hundred everyday words of image prompts (subjects, colours, materials, scenes,
styles, relations), the words of the prompt templates the pipelines wrap around a prompt
(Qwen-Image's system prompt, SANA's prompt-enhancing instruction) and single characters,
so that every tokenizer can spell any ASCII prompt. Written for massact; the list is the
training corpus of the small BPE and Unigram vocabularies in ``tokenizers.py``.
"""
from __future__ import annotations

import string

_SUBJECTS = """
cat dog bird fish horse cow sheep rabbit fox bear deer owl duck frog lion tiger elephant zebra
monkey turtle snake butterfly bee whale dolphin penguin eagle mouse squirrel wolf giraffe camel
man woman child boy girl person people crowd chef astronaut knight wizard robot dragon
car bus truck bicycle boat ship train plane airplane rocket balloon kite lamp chair table sofa bed
cup mug bowl plate bottle vase teapot clock book candle guitar piano violin drum umbrella hat
shoe bag backpack apple banana orange lemon cherry strawberry pear grape bread cake pizza burger
sandwich cookie donut mat rug coffee tea flower flowers rose tulip sunflower tree trees leaf leaves plant
cactus mushroom house castle tower bridge church temple lighthouse windmill barn cabin tent
road street city village town garden park forest jungle desert beach ocean sea lake river
waterfall mountain mountains hill hills valley island sky cloud clouds sun moon star stars
rain snow storm rainbow fire smoke ice rock stone sand grass field meadow window door wall
floor roof room kitchen library market station harbor shore cliff cave volcano planet galaxy
circle square triangle star heart sphere cube ball box
""".split()

_ATTRIBUTES = """
red orange yellow green blue purple pink brown black white gray grey golden silver
dark light bright pale colorful vivid warm cool soft hard shiny glossy matte wooden metal
metallic glass plastic paper stone marble velvet woolen fluffy furry small big large tiny huge
tall short long round flat old young new ancient modern futuristic rusty wet dry cozy quiet busy
empty crowded calm happy sad sleeping running flying sitting standing walking swimming reading
eating playing dancing smiling glowing burning floating melting sits stands lies holds wearing
""".split()

_SCENE = """
a an the one two three some many of in on at by with under over above below behind beside near
next to from into onto through across between and or while during at against inside outside
front back left right top bottom center middle corner edge side
morning noon evening night sunset sunrise dusk dawn winter summer spring autumn fall
background foreground scene view close up wide shot portrait landscape photo photograph picture
painting drawing sketch illustration render cartoon watercolor oil digital art style realistic
detailed simple minimal high quality lighting light shadow shadows reflection texture pattern
""".split()

#: the words of the templates the pipelines wrap around a prompt (Qwen-Image, SANA, Qwen3 chat)
_TEMPLATES = """
describe image detailing color colors shape shapes size sizes texture textures quantity text
spatial relationships objects object user system assistant given prompt generate enhanced
provides descriptions suitable for generation evaluate level detail if is simple focus adding
specifics about create concrete scenes already refine enhance existing details slightly without
overcomplicating here are examples how transform or refine prompts sleeping curled sunny
windowsill surrounded pots blooming bustling featuring street lamps diverse clothing double
decker passing towering skyscrapers please only description below avoid including any
additional commentary evaluations think
""".split()


def words() -> list[str]:
    """Every whole word of the tiny vocabularies, first occurrence order, no duplicates.

    Returns:
        the words, lower case, plus their capitalised forms and the single letters,
        digits and ASCII punctuation marks.
    """
    seen: dict[str, None] = {}
    for w in _SUBJECTS + _ATTRIBUTES + _SCENE + _TEMPLATES:
        seen.setdefault(w, None)
    base = list(seen)
    # capitalised forms: the first word of a prompt or a sentence of a template
    for w in base:
        seen.setdefault(w.capitalize(), None)
    for ch in string.ascii_letters + string.digits + string.punctuation:
        seen.setdefault(ch, None)
    return list(seen)
