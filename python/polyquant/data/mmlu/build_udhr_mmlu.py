"""Builds the bundled MMLU-format fixture files data/mmlu/<lang>.jsonl from UDHR articles.

Each question asks which article of the Universal Declaration of Human Rights states a short
paraphrase of that article, written in the question's language; the four choices are article
numbers (the right one and three others from the table), placed by a seeded shuffle. The same
questions exist in every language, so accuracies compare across languages. Run:

    python -m polyquant.data.mmlu.build_udhr_mmlu      # rewrites the .jsonl files next to this one
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20260109  # fixes distractors and answer positions
SUBJECT = "human_rights"

QUESTION = {
    "en": "Which article of the Universal Declaration of Human Rights states that {topic}?",
    "he": "איזה סעיף בהכרזה לכל באי עולם בדבר זכויות האדם קובע כי {topic}?",
    "ar": "أي مادة من الإعلان العالمي لحقوق الإنسان تنص على أن {topic}؟",
    "zh": "《世界人权宣言》的哪一条规定{topic}？",
}
CHOICE = {"en": "Article {n}", "he": "סעיף {n}", "ar": "المادة {n}", "zh": "第{n}条"}

# article → paraphrase per language
TOPICS: dict[int, dict[str, str]] = {
    1: {
        "en": "all human beings are born free and equal in dignity and rights",
        "he": "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם",
        "ar": "جميع الناس يولدون أحراراً متساوين في الكرامة والحقوق",
        "zh": "人人生而自由，在尊严和权利上一律平等",
    },
    3: {
        "en": "everyone has the right to life, liberty and security of person",
        "he": "לכל אדם הזכות לחיים, לחירות ולביטחון אישי",
        "ar": "لكل فرد الحق في الحياة والحرية وفي الأمان على شخصه",
        "zh": "人人有权享有生命、自由和人身安全",
    },
    4: {
        "en": "no one shall be held in slavery or servitude",
        "he": "לא יוחזק אדם בעבדות או בשעבוד",
        "ar": "لا يجوز استرقاق أحد أو استعباده",
        "zh": "任何人不得使为奴隶或奴役",
    },
    5: {
        "en": "no one shall be subjected to torture",
        "he": "לא יהיה אדם נתון לעינויים",
        "ar": "لا يعرض أي إنسان للتعذيب",
        "zh": "任何人不得加以酷刑",
    },
    6: {
        "en": "everyone has the right to recognition everywhere as a person before the law",
        "he": "כל אדם זכאי להכרה בכל מקום כאישיות בפני החוק",
        "ar": "لكل إنسان أينما وجد الحق في أن يعترف بشخصيته القانونية",
        "zh": "人人在任何地方有权被承认在法律前的人格",
    },
    7: {
        "en": "all are equal before the law",
        "he": "הכל שווים בפני החוק",
        "ar": "كل الناس سواسية أمام القانون",
        "zh": "法律之前人人平等",
    },
    9: {
        "en": "no one shall be subjected to arbitrary arrest, detention or exile",
        "he": "לא ייאסר אדם, לא ייעצר ולא יוגלה באופן שרירותי",
        "ar": "لا يجوز القبض على أي إنسان أو حجزه أو نفيه تعسفاً",
        "zh": "任何人不得加以任意逮捕、拘禁或放逐",
    },
    10: {
        "en": "everyone is entitled to a fair and public hearing by an independent and impartial tribunal",
        "he": "כל אדם זכאי לבירור משפטי הוגן ופומבי בפני בית דין בלתי תלוי",
        "ar": "لكل إنسان الحق في أن تنظر قضيته أمام محكمة مستقلة نزيهة نظراً عادلاً علنياً",
        "zh": "人人有权由一个独立而无偏倚的法庭进行公正的和公开的审讯",
    },
    11: {
        "en": "everyone charged with a penal offence has the right to be presumed innocent until proved guilty",
        "he": "כל אדם שהואשם בעבירה חזקה עליו שהוא זכאי כל עוד לא הוכחה אשמתו",
        "ar": "كل شخص متهم بجريمة يعتبر بريئاً إلى أن تثبت إدانته",
        "zh": "凡受刑事控告者，在未经依法证实有罪以前，有权被视为无罪",
    },
    12: {
        "en": "no one shall be subjected to arbitrary interference with his privacy, family, home or correspondence",
        "he": "לא יהיה אדם נתון להתערבות שרירותית בחייו הפרטיים, במשפחתו, בביתו או בתכתובתו",
        "ar": "لا يعرض أحد لتدخل تعسفي في حياته الخاصة أو أسرته أو مسكنه أو مراسلاته",
        "zh": "任何人的私生活、家庭、住宅和通信不得任意干涉",
    },
    13: {
        "en": "everyone has the right to freedom of movement and residence within the borders of each state",
        "he": "לכל אדם הזכות לחופש התנועה והמגורים בתוך גבולות המדינה",
        "ar": "لكل فرد حرية التنقل واختيار محل إقامته داخل حدود كل دولة",
        "zh": "人人在各国境内有权自由迁徙和居住",
    },
    14: {
        "en": "everyone has the right to seek and to enjoy in other countries asylum from persecution",
        "he": "לכל אדם הזכות לבקש ולמצוא מקלט מרדיפות בארצות אחרות",
        "ar": "لكل فرد الحق في أن يلجأ إلى بلاد أخرى هرباً من الاضطهاد",
        "zh": "人人有权在其他国家寻求和享受庇护以避免迫害",
    },
    15: {
        "en": "everyone has the right to a nationality",
        "he": "לכל אדם הזכות לאזרחות",
        "ar": "لكل فرد حق التمتع بجنسية ما",
        "zh": "人人有权享有国籍",
    },
    16: {
        "en": "men and women of full age have the right to marry and to found a family",
        "he": "לגברים ולנשים בגיל בגרות הזכות להינשא ולהקים משפחה",
        "ar": "للرجل والمرأة متى أدركا سن البلوغ حق التزوج وتأسيس أسرة",
        "zh": "成年男女有权婚嫁和成立家庭",
    },
    17: {
        "en": "everyone has the right to own property",
        "he": "לכל אדם הזכות לקניין",
        "ar": "لكل شخص حق التملك",
        "zh": "人人得有单独的财产所有权",
    },
    18: {
        "en": "everyone has the right to freedom of thought, conscience and religion",
        "he": "לכל אדם הזכות לחירות המחשבה, המצפון והדת",
        "ar": "لكل شخص الحق في حرية التفكير والضمير والدين",
        "zh": "人人有思想、良心和宗教自由的权利",
    },
    19: {
        "en": "everyone has the right to freedom of opinion and expression",
        "he": "לכל אדם הזכות לחירות הדעה והביטוי",
        "ar": "لكل شخص الحق في حرية الرأي والتعبير",
        "zh": "人人有权享有主张和发表意见的自由",
    },
    20: {
        "en": "everyone has the right to freedom of peaceful assembly and association",
        "he": "לכל אדם הזכות לחירות האסיפה וההתאגדות בדרכי שלום",
        "ar": "لكل شخص الحق في حرية الاشتراك في الجمعيات والجماعات السلمية",
        "zh": "人人有权享有和平集会和结社的自由",
    },
    21: {
        "en": "everyone has the right to take part in the government of his country",
        "he": "לכל אדם הזכות להשתתף בהנהלת ארצו",
        "ar": "لكل فرد الحق في الاشتراك في إدارة الشؤون العامة لبلاده",
        "zh": "人人有直接或通过自由选择的代表参与治理本国的权利",
    },
    23: {
        "en": "everyone has the right to work",
        "he": "לכל אדם הזכות לעבודה",
        "ar": "لكل شخص الحق في العمل",
        "zh": "人人有权工作",
    },
    24: {
        "en": "everyone has the right to rest and leisure",
        "he": "לכל אדם הזכות למנוחה ולפנאי",
        "ar": "لكل شخص الحق في الراحة وفي أوقات الفراغ",
        "zh": "人人有享受休息和闲暇的权利",
    },
    25: {
        "en": "everyone has the right to a standard of living adequate for health and well-being",
        "he": "לכל אדם הזכות לרמת חיים נאותה לבריאותו ולרווחתו",
        "ar": "لكل شخص الحق في مستوى من المعيشة كاف للمحافظة على الصحة والرفاهية",
        "zh": "人人有权享受为维持他本人和家属的健康和福利所需的生活水准",
    },
    26: {
        "en": "everyone has the right to education",
        "he": "לכל אדם הזכות לחינוך",
        "ar": "لكل شخص الحق في التعلم",
        "zh": "人人都有受教育的权利",
    },
    27: {
        "en": "everyone has the right freely to participate in the cultural life of the community",
        "he": "לכל אדם הזכות להשתתף בחיי התרבות של הקהילה",
        "ar": "لكل فرد الحق في أن يشترك اشتراكاً حراً في حياة المجتمع الثقافية",
        "zh": "人人有权自由参加社会的文化生活",
    },
}


def questions() -> list[tuple[int, list[int]]]:
    """(article, four article numbers in choice order) per question, the same in every language."""
    rng = random.Random(SEED)
    articles = sorted(TOPICS)
    out = []
    for k, art in enumerate(articles):
        distractors = rng.sample([a for a in articles if a != art], 3)
        options = distractors[:]
        options.insert(k % 4, art)  # answer positions cycle A, B, C, D
        out.append((art, options))
    return out


def build(folder: Path) -> None:
    for lang in QUESTION:
        lines = []
        for art, options in questions():
            lines.append(
                json.dumps(
                    {
                        "question": QUESTION[lang].format(topic=TOPICS[art][lang]),
                        "choices": [CHOICE[lang].format(n=n) for n in options],
                        "answer": "ABCD"[options.index(art)],
                        "subject": SUBJECT,
                    },
                    ensure_ascii=False,
                )
            )
        (folder / f"{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    build(Path(__file__).parent)
