"""The sentences of the long test file (issue 3: long audio without seams), in speaking order, and their voices.

Everyday English, 8 to 20 words each, numbers written as words. No two sentences share a three-word sequence (after
Whisper's English normalisation), nor does the whole text joined in this order, so every reference 3-gram occurs
once in the long file and a missing or repeated phrase at a 30 s seam is unambiguous
(``tests/test_longform_material.py`` checks both).

Voices were given in the rotation of ``VOICES`` when the list was written; sentences whose clip faster-whisper
(whisper-base, beam 1) transcribed at a word error rate above ``MAX_CLIP_WER`` were then rewritten for the same
voice (``python -m scripts.make_speech --longform --check``), so the material measures the long-form algorithm, not
the text-to-speech engines. Finally a few neighbours were swapped so that, with the clips trimmed and joined without
pauses (``scripts.material.longform_audio``), every 30 s window edge falls at least a second inside a sentence.

Data only: ``python -m scripts.make_speech --longform`` speaks these into ``tests/data/longform/``.
"""

from __future__ import annotations

# voice -> engine, in the order of the rotation.
VOICES: dict[str, str] = {
    "slt": "flite",
    "rms": "flite",
    "awb": "flite",
    "kal16": "flite",
    "en-us": "espeak-ng",
    "en": "espeak-ng",
}

MAX_CLIP_WER = 0.20  # a sentence whose clip faster-whisper transcribes worse than this is replaced

# (voice, sentence) in speaking order.
SENTENCES: tuple[tuple[str, str], ...] = (
    ("slt", "My neighbor fixed his old bicycle on Sunday and rode it to the lake."),
    ("rms", "We need three eggs, a cup of flour and some butter for the pancakes."),
    ("awb", "The library closes early tonight, so return those books before dinner."),
    ("kal16", "Her grandmother grows beans, peas and yellow flowers behind the wooden shed."),
    ("en-us", "After the meeting ended, everyone went outside to enjoy the afternoon sunshine."),
    ("en", "Walk past the bank and turn right at the second traffic light."),
    ("slt", "The bus driver smiled and waited for the old man to get on."),
    ("rms", "Tom forgot his umbrella again and arrived at work completely soaked."),
    ("awb", "Our kitchen sink has been leaking for a week, and the plumber comes tomorrow."),
    ("kal16", "Fresh snow covered the mountains overnight, and the ski slopes opened early."),
    ("en-us", "She practices the piano for forty minutes every evening before doing homework."),
    ("en", "The city museum has a new exhibit about ancient ships and sailors."),
    ("slt", "Could you pass me that green notebook sitting beside your laptop?"),
    ("rms", "Last summer we camped near a quiet river and cooked fish over an open fire."),
    ("awb", "The hospital parking lot was full, so I left my car across the street."),
    ("kal16", "Many students study in the cafeteria because the chairs are more comfortable there."),
    ("en-us", "The cat is asleep on the sofa in front of the fire."),
    ("en", "Please send me the report tomorrow so I can read it before the meeting."),
    ("slt", "The market in our town sells honey, apples, cheese and freshly baked pies."),
    ("rms", "He painted the fence white and then planted roses along the path."),
    ("awb", "Our flight leaves before sunrise, so we must wake up very early."),
    ("en", "My grandfather tells funny stories about growing up on a farm with seven brothers."),
    ("kal16", "The children played with a ball on the beach all afternoon."),
    ("en-us", "I usually drink coffee in the morning but switch to tea after lunch."),
    ("slt", "The new restaurant on Maple Street serves delicious soup and warm bread."),
    ("rms", "Remember to water the plants while we are away on vacation."),
    ("awb", "Our team won the soccer match by two goals despite the heavy rain."),
    ("kal16", "She wrapped the birthday present in shiny paper and tied a red ribbon around it."),
    ("en-us", "The elevator is broken today, so everyone has to take the stairs."),
    ("en", "A loud thunderstorm kept the whole family awake until nearly midnight."),
    ("slt", "My sister is learning to drive, and she practices in empty parking lots."),
    ("rms", "The doctor told him to rest his knee and avoid running for a month."),
    ("awb", "We painted the spare bedroom yellow to make it feel bright and cheerful."),
    ("kal16", "Twenty people signed up for the cooking class, but only twelve showed up."),
    ("en-us", "I put a bright lamp on the small table beside my bed."),
    ("en", "He keeps his tools in a metal box under the workbench in the garage."),
    ("slt", "The train station was crowded with travelers carrying suitcases and heavy bags."),
    ("rms", "Our teacher asked us to write a short poem about the ocean."),
    ("awb", "The dentist said my teeth look healthy, but I should floss more often."),
    ("kal16", "Bright lanterns hung from the trees during the summer festival in the park."),
    ("en-us", "We ordered a large pizza with mushrooms, peppers and extra cheese."),
    ("en", "My phone battery died halfway through the movie, so I missed the ending."),
    ("slt", "The puppy chewed one of my slippers while I was taking a shower."),
    ("awb", "A friendly waiter brought us water and menus as soon as we sat down."),
    ("en", "She reads a few pages of a book before going to sleep."),
    ("rms", "They moved into a small apartment near the university last September."),
    ("kal16", "The river flooded after days of rain, and several roads were closed."),
    ("en-us", "I need to buy new shoes because my old ones are worn out."),
    ("slt", "The highway was quiet at dawn, with only a few trucks heading north."),
    ("rms", "His favorite breakfast is toast with peanut butter and sliced bananas."),
    ("awb", "We watched the fireworks from the roof of our building with our neighbors."),
    ("kal16", "The printer ran out of ink right before my presentation started."),
    ("slt", "The bakery opens at five because the bakers start very early."),
    ("en-us", "In the fall the leaves turn red and yellow and drop to the ground."),
    ("en", "Please lock the back door and close all the windows before leaving."),
    ("rms", "My brother collects old coins from different countries around the world."),
    ("awb", "The swimming pool stays open until nine during the hot summer months."),
    ("kal16", "Someone left a bag of groceries on the bench outside the post office."),
    ("en-us", "The baby laughed every time the dog wagged its tail."),
    ("en", "We spent the afternoon cleaning the attic and found letters from our grandparents."),
    ("en-us", "The math test had fifteen questions, and most of them were surprisingly easy."),
    ("slt", "A strong wind knocked over the trash cans along our street last night."),
    ("rms", "The nurse checked his temperature and brought him a glass of cold juice."),
    ("awb", "I borrowed a ladder from my neighbor to clean the gutters on the roof."),
    ("kal16", "Her garden is full of flowers, and bees visit them every day."),
    ("en", "My father cooked soup for dinner last night."),
    ("slt", "Our hotel room had a balcony overlooking the harbor and the fishing boats."),
    ("en-us", "The mechanic replaced the brakes and rotated the tires on my car."),
    ("en", "We took a ferry across the bay and watched dolphins swimming beside it."),
    ("rms", "The show was called off because the singer was sick."),
    ("awb", "Kids ran through the sprinklers to cool off on the hottest day of the year."),
    ("kal16", "My mother makes warm hats and gives them to her friends every winter."),
    ("slt", "A tall stack of old magazines sits next to the couch in the living room."),
    ("rms", "The grocery store had no milk left, so we bought some at the gas station."),
    ("awb", "He jogs around the park three times a week to stay in shape."),
    ("kal16", "The students planted fifty trees along the river as part of a school project."),
    ("en-us", "My cousin bakes chocolate cookies that disappear within minutes at every party."),
    ("en", "The wind chimes on the porch sang softly in the evening breeze."),
    ("slt", "Our building manager promised to repair the heater before winter arrives."),
    ("rms", "She found an old photograph in the pocket of her winter coat."),
    ("awb", "A brave man climbed the tall tree to save the frightened kitten."),
    ("kal16", "Let's meet at the coffee shop near the station around noon tomorrow."),
    ("en-us", "A pipe broke under the sink and the floor got wet."),
    ("slt", "We built a new shelf for all of our books last spring."),
    ("awb", "Our picnic ended early when it started to rain very hard."),
    ("en", "Every year our family takes a trip to the zoo to look at the animals."),
    ("rms", "I locked my keys inside the house and had to call a locksmith."),
    ("kal16", "My roommate plays the guitar late at night, which keeps me awake."),
    ("en-us", "Many birds fly south when the weather gets cold."),
    ("en", "The waiter dropped a tray of glasses, and the whole room went silent."),
    ("slt", "We stayed in a small cabin in the woods for a quiet weekend."),
    ("rms", "The soup needs more salt, but otherwise it tastes wonderful."),
)
