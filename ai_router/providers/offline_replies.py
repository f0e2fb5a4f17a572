"""The offline mentor's fixed phrasing, in English and Hinglish: greetings, empathy, study
advice, the checks that end an explanation, and the subject-specific first steps and hints.

Each list has one entry per angle: a regenerate (`variant` n) takes entry n modulo the length,
so the learner gets a different opening, order and closing question each time.
"""

from __future__ import annotations

from typing import Final

from ai_router.topics import Subject

Phrases = tuple[str, ...]

GREETINGS: Final[dict[bool, Phrases]] = {
    False: (
        "Hi! I'm StarGuide, your study mentor. What would you like to work on today: a "
        "concept, a problem or some practice?",
        "Hello! Good to see you. Shall we clear a doubt, solve a problem or do a practice "
        "question?",
        "Hey! Ready when you are. Which topic is on your mind today?",
    ),
    True: (
        "Namaste! Main StarGuide hoon, aapka study mentor. Aaj kya padhna hai: koi concept, "
        "koi sawal ya practice?",
        "Hello! Aapko dekh ke accha laga. Batao, aaj kaunsa doubt clear karein?",
        "Hey! Main ready hoon. Aaj kaunsa topic padhna hai?",
    ),
}

EMPATHY: Final[dict[bool, Phrases]] = {
    False: (
        "I hear you, and that sounds really stressful. Feeling this way before an exam is "
        "completely normal, and it does not mean you are going to fail.",
        "That's a lot to carry, and I'm glad you told me. Anxiety before exams is something "
        "almost every serious student feels; it says you care, not that you can't do it.",
        "I'm sorry it feels this heavy right now. It makes sense to feel tense when so much "
        "seems to ride on one exam, and you are not alone in this.",
    ),
    True: (
        "Main samajh sakta hoon, yeh sach mein stressful lagta hai. Exam se pehle aisa feel "
        "karna bilkul normal hai, iska matlab yeh nahi ki aap fail ho jaoge.",
        "Yeh bahut saara pressure hai, aur accha kiya jo aapne bataya. Lagbhag har serious "
        "student ko exam se pehle tension hoti hai; iska matlab hai aapko parwah hai.",
        "Mujhe afsos hai ki abhi itna bhaari lag raha hai. Itna kuch ek exam pe tika lage to "
        "ghabrahat hona natural hai, aur aap akele nahi ho.",
    ),
}

ADVICE: Final[dict[bool, Phrases]] = {
    False: (
        "When you feel ready, one small step helps more than a big plan: pick a single topic "
        "for the next 25 minutes, then take a 5-minute break. Sleep and meals count as "
        "preparation too.",
        "Once you've had a breather, try this: write down the one thing that worries you "
        "most, then we turn it into a short plan for today, just two or three small tasks.",
        "A gentle start works best: revise something you already know well for 20 minutes to "
        "get your confidence back, then one weaker topic. Keep your sleep regular.",
    ),
    True: (
        "Jab thoda theek lage, ek chhota step lo: agle 25 minute sirf ek topic, phir 5 minute "
        "ka break. Neend aur khana bhi preparation ka hissa hai.",
        "Thoda saans lene ke baad: jo baat sabse zyada pareshan kar rahi hai use likh lo, phir "
        "hum aaj ke liye do-teen chhote tasks ka plan banate hain.",
        "Aaram se shuru karo: pehle 20 minute koi aisa topic revise karo jo aata hai, taaki "
        "confidence wapas aaye, phir ek weak topic. Neend regular rakho.",
    ),
}

STRESS_CLOSE: Final[dict[bool, str]] = {
    False: "What's weighing on you most right now?",
    True: "Abhi sabse zyada kis baat ki tension hai, batao?",
}

CRISIS: Final[dict[bool, str]] = {
    False: "I'm really sorry you're feeling this way, and I'm glad you told me. You matter "
    "far more than any exam. Please talk to someone you trust right now, a parent, a friend "
    "or a teacher, and you can call Tele-MANAS on 14416 (free, any time) to speak with a "
    "counsellor. If you are in immediate danger, call 112. I'm here for your studies "
    "whenever you feel ready.",
    True: "Mujhe bahut afsos hai ki aap aisa feel kar rahe ho, aur accha kiya jo bataya. Aap "
    "kisi bhi exam se kahin zyada important ho. Abhi kisi apne se baat karo, ghar mein, "
    "dost ya teacher se, aur Tele-MANAS ko 14416 pe call karo (free, kabhi bhi). Turant "
    "khatra ho to 112 pe call karo. Padhai mein main hamesha saath hoon, jab aap ready ho.",
}

EXPLAIN_OPEN: Final[dict[bool, Phrases]] = {
    False: (
        "Here's {title}, step by step.",
        "Let's come at {title} from a different angle: start with an example.",
        "One more way to see {title}: the idea in one line, then you try it.",
    ),
    True: (
        "Chalo, {title} ko simple tarike se samajhte hain.",
        "Ek alag angle se dekhte hain: pehle ek example.",
        "Ek aur tarika: pehle ek line mein idea, phir aap khud try karo.",
    ),
}

FROM_NOTES: Final[dict[bool, str]] = {
    False: "From your notes:",
    True: "Aapke notes mein likha hai:",
}

IDEA: Final[dict[bool, str]] = {False: "The idea behind it:", True: "Iske peeche idea yeh hai:"}
EXAMPLE: Final[dict[bool, str]] = {False: "Worked example:", True: "Example dekho:"}
TRY_FIRST: Final[dict[bool, str]] = {
    False: "Try this example yourself before reading the steps:",
    True: "Yeh example pehle khud try karo, phir steps dekho:",
}

CHECKS: Final[dict[bool, Phrases]] = {
    False: (
        "Quick check: can you explain it back to me in two lines, or try the same example "
        "with your own numbers?",
        "Now your turn: change one number in the example and predict the new answer before "
        "you calculate. What do you get?",
        "Which step would you have got stuck on? Tell me and we'll go through it together.",
    ),
    True: (
        "Ab aap batao: kya aap ise apne shabdon mein do line mein samjha sakte ho?",
        "Ab aapki baari: example mein ek number badlo aur answer pehle guess karo. Kya aaya?",
        "Kaunse step pe atak jaate? Batao, saath mein dekhte hain.",
    ),
}

SOLVE_OPEN: Final[dict[bool, Phrases]] = {
    False: (
        "Let's solve it step by step.",
        "Here's a similar solved one first, then yours.",
        "Let's set it up together; I'll give the method and you finish it.",
    ),
    True: (
        "Chalo, step by step solve karte hain.",
        "Pehle ek milta-julta solved example dekho, phir aapka sawal.",
        "Saath mein setup karte hain; method main batata hoon, answer aap nikalo.",
    ),
}

GIVEN: Final[dict[bool, str]] = {
    False: "Step 1: write down what is given ({given}) and mark what is asked.",
    True: "Step 1: jo diya hai woh likho ({given}) aur jo poocha hai use mark karo.",
}
GIVEN_NONE: Final[dict[bool, str]] = {
    False: "Step 1: write down what is given and mark what is asked.",
    True: "Step 1: jo diya hai woh likho aur jo poocha hai use mark karo.",
}
RULE: Final[dict[bool, str]] = {
    False: "Step 2: the rule that links them:",
    True: "Step 2: inko jodne wala rule:",
}
SIMILAR: Final[dict[bool, str]] = {
    False: "A worked example of the same kind:",
    True: "Isi tarah ka ek solved example:",
}
SOLVE_CLOSE: Final[dict[bool, str]] = {
    False: "Now put your numbers through the same steps and tell me what you get; I'll check "
    "it with you.",
    True: "Ab apne numbers isi tarah lagao aur batao kya answer aaya; main check kar dunga.",
}

PRACTICE_OPEN: Final[dict[bool, str]] = {
    False: "Here's a practice question{on} from the StarGuide question bank:",
    True: "Yeh raha ek practice question{on}, StarGuide question bank se:",
}
PRACTICE_CLOSE: Final[dict[bool, str]] = {
    False: "Reply with A, B, C or D and one line on why; I'll check it and explain.",
    True: "Apna answer (A, B, C ya D) aur ek line mein reason batao; main check karke samjhaunga.",
}
PRACTICE_NONE: Final[dict[bool, str]] = {
    False: "I don't have a bank question at hand, so try this one and show me your steps:",
    True: "Abhi bank ka question haath mein nahi hai, to yeh try karo aur steps dikhao:",
}

WEAK_RELATED: Final[dict[bool, str]] = {
    False: "This touches {topics}, which you marked as a weak topic, so go slowly and check "
    "each step.",
    True: "Yeh {topics} se juda hai, jo aapka weak topic hai, to aaram se har step check karo.",
}
WEAK_OTHER: Final[dict[bool, str]] = {
    False: "Once this is clear, let's revisit your weak topics: {topics}.",
    True: "Yeh clear ho jaye to apne weak topics bhi dekhenge: {topics}.",
}

GUIDE_OPEN: Final[dict[bool, str]] = {
    False: "Let's work through this {subject}together.",
    True: "Chalo, is {subject}sawal ko saath mein samajhte hain.",
}

QUESTIONS: Final[dict[Subject | None, str]] = {
    "physics": "Which quantities are given, which one is asked for, and which law links "
    "them: Newton's laws, energy conservation or the kinematic equations?",
    "chemistry": "What is actually changing here: the number of moles, the bonding, or the "
    "energy of the system?",
    "maths": "What kind of object are you working with, and which standard result is built "
    "for exactly that form?",
    "biology": "Where in the organism or cell does this happen, and what is it for?",
    "upsc_gs": "Which part of the syllabus does this sit in, and what would a balanced "
    "answer need: context, both sides and a way forward?",
    None: "What do you already know about this, and where exactly do you get stuck?",
}

STEPS: Final[dict[Subject | None, str]] = {
    "physics": "First step: list the knowns with their units, mark the unknown, and draw a "
    "quick diagram with directions. Then write the one equation that connects them.",
    "chemistry": "First step: write the balanced equation and convert every given quantity "
    "to moles. Most numericals become a ratio problem after that.",
    "maths": "First step: write down what is given and what must be found, then rewrite the "
    "expression into a standard form (factorise, substitute, or use an identity).",
    "biology": "First step: name the structure involved and the sequence of events in order; "
    "a labelled flow diagram in words is the fastest way to remember it.",
    "upsc_gs": "First step: frame a two-line introduction, plan three or four body points "
    "under clear sub-headings and end with a way forward.",
    None: "First step: break the question into what is given, what is asked, and what idea "
    "connects the two.",
}

HINTS: Final[dict[str, str]] = {
    "projectile": "Hint: treat horizontal and vertical motion separately; only the vertical "
    "part feels g, and time of flight links the two.",
    "friction": "Hint: check whether the body actually slides before using mu N.",
    "circuit": "Hint: reduce series and parallel groups step by step, then apply Ohm's law.",
    "momentum": "Hint: with no external force along a direction, momentum along it is conserved.",
    "lens": "Hint: use the lens formula with the sign convention fixed before you substitute.",
    "molarity": "Hint: molarity = moles of solute / volume of solution in litres.",
    "mole": "Hint: moles = mass / molar mass; the rest follows from the balanced equation.",
    "equilibrium": "Hint: write the expression for K first, then use an ICE table.",
    "integrate": "Hint: look for a substitution; otherwise try integration by parts.",
    "integral": "Hint: look for a substitution; otherwise try integration by parts.",
    "derivative": "Hint: decide between the product, quotient and chain rule first.",
    "probability": "Hint: define the sample space and count favourable outcomes.",
    "quadratic": "Hint: the discriminant tells you the nature of the roots before you solve.",
    "federalism": "Hint: contrast the constitutional design with how it works in practice.",
    "inflation": "Hint: separate demand-pull from cost-push causes, then the RBI's tools.",
}
