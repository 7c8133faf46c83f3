"""Short customer texts in Russian and English: reviews, ticket subjects and bodies, survey comments.

Texts are assembled from phrase banks by tone (negative / mixed / positive), aspect and product group,
with the variety real feedback has: negation ("не плохо", "not bad", "не рекомендую"), slang
("норм", "огонь", "meh"), occasional emoji, casual lower-case and a few typos. The generator picks the
tone from the customer's latent satisfaction, so text analysis has a true signal to find; the random
choices arrive as pre-drawn uniforms (one row per text), which keeps the assembly deterministic and
cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TONES = ("neg", "mixed", "pos")
NEG, MIXED, POS = 0, 1, 2
ASPECTS = ("price", "quality", "delivery", "service", "site", "assortment")

# Product group of each catalogue category, for aspect sentences that only fit some products.
PRODUCT_GROUP = {
    "coffee": "food",
    "tea": "food",
    "syrups": "food",
    "sweets": "food",
    "grinders": "gear",
    "coffee_machines": "gear",
    "coffee_accessories": "gear",
    "teaware": "gear",
    "phones": "tech",
    "phone_cases": "tech",
    "chargers": "tech",
    "tech_accessories": "tech",
}
# Russian nouns (nominative, accusative) and English noun phrases for product mentions.
PRODUCT_NOUNS_RU = {
    "coffee": ("кофе", "кофе"),
    "tea": ("чай", "чай"),
    "syrups": ("сироп", "сироп"),
    "sweets": ("сладости", "сладости"),
    "grinders": ("кофемолка", "кофемолку"),
    "coffee_machines": ("кофемашина", "кофемашину"),
    "coffee_accessories": ("товар", "товар"),
    "teaware": ("посуда", "посуду"),
    "phones": ("телефон", "телефон"),
    "phone_cases": ("чехол", "чехол"),
    "chargers": ("зарядка", "зарядку"),
    "tech_accessories": ("товар", "товар"),
}
PRODUCT_NOUNS_EN = {
    "coffee": "the coffee",
    "tea": "the tea",
    "syrups": "the syrup",
    "sweets": "the sweets",
    "grinders": "the grinder",
    "coffee_machines": "the machine",
    "coffee_accessories": "this thing",
    "teaware": "the teaware",
    "phones": "the phone",
    "phone_cases": "the case",
    "chargers": "the charger",
    "tech_accessories": "this thing",
}

# --------------------------------------------------------------------------------------------- reviews
# Placeholders: {Product}/{product} (ru nominative), {product_acc} (ru accusative), {bought} (Купил/Купила),
# {name} (the product's name).
REVIEW_QUALITY: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "ru": {
        "food": {
            "pos": (
                "Вкус насыщенный, без горечи.",
                "{Product} — просто огонь.",
                "Свежая обжарка, аромат на всю кухню.",
                "Ничуть не хуже, чем в кофейне.",
                "Беру уже не первый раз, вкус всегда стабильный.",
                "Совсем не горчит, пьётся легко.",
                "{bought} {product_acc} на пробу и не пожалел(а).",
                "Кайф, а не {product}.",
                "Очень вкусно, особенно с молоком.",
                "Беру «{name}» уже не первый раз.",
            ),
            "mixed": (
                "Неплохо, но ждал(а) большего.",
                "Вкус норм, но ничего особенного.",
                "Не плохо, но в прошлый раз было вкуснее.",
                "Обжарка темновата на мой вкус.",
                "В целом неплохо, хотя аромат слабоват.",
                "{Product} — на троечку.",
            ),
            "neg": (
                "Вкус кислый и плоский, пить невозможно.",
                "{Product} — просто фигня, деньги на ветер.",
                "Обжарка старая, аромата ноль.",
                "Не понравилось совсем, горчит.",
                "Пахнет пылью, а не кофе.",
                "Вкус совсем не тот, что раньше.",
            ),
        },
        "gear": {
            "pos": (
                "Сделано качественно, ничего не люфтит.",
                "{Product} — топ за свои деньги.",
                "Пользуюсь каждый день, полёт нормальный.",
                "«{name}» — лучшая покупка за год.",
                "Собрано на совесть, выглядит дорого.",
                "Помол равномерный, очень доволен(льна).",
                "{bought} {product_acc} в подарок, все в восторге.",
            ),
            "mixed": (
                "В целом норм, но инструкция так себе.",
                "Работает, но шумновато.",
                "Качество неплохое, хотя пластик ощущается дешёвым.",
                "Не идеально, но для дома сойдёт.",
            ),
            "neg": (
                "Сломалась через две недели.",
                "{Product} — брак, ручка отвалилась сразу.",
                "Пластик хлипкий, всё скрипит.",
                "Не работает как заявлено, разочарование.",
                "Через месяц начала протекать.",
            ),
        },
        "tech": {
            "pos": (
                "Работает отлично, батарея держит долго.",
                "{Product} — имба, всем советую.",
                "Всё оригинальное, серийник проверил(а).",
                "Сидит как влитой, кнопки нажимаются чётко.",
                "Заряжает быстро, не греется.",
                "{name}: всё как в описании.",
                "{bought} {product_acc} и ни разу не пожалел(а).",
            ),
            "mixed": (
                "Нормально, но греется при зарядке.",
                "Работает, хотя ожидал(а) большего.",
                "Не плохо, но цвет не как на фото.",
                "Камера так себе, остальное норм.",
            ),
            "neg": (
                "Перестал заряжаться через неделю.",
                "{Product} — подделка, не оригинал.",
                "Сидит криво, кнопки не нажимаются.",
                "Греется как утюг, не рекомендую.",
                "Экран с битыми пикселями, жесть.",
            ),
        },
    },
    "en": {
        "food": {
            "pos": (
                "Rich flavour, no bitterness at all.",
                "Fresh roast, the whole kitchen smells amazing.",
                "Honestly as good as my local café.",
                "Been ordering this for months, always consistent.",
                "{Product} is legit 10/10.",
                "Smooth and not bitter, love it with milk.",
                "Not bad at all, actually really good.",
                "The {name} is exactly as described.",
            ),
            "mixed": (
                "Not bad, but I expected more.",
                "Decent, nothing special tbh.",
                "A bit too dark for my taste.",
                "Okay flavour, the aroma is weak though.",
                "{Product} is fine I guess. meh",
            ),
            "neg": (
                "Tastes sour and flat, couldn't drink it.",
                "Stale roast, zero aroma.",
                "Didn't like it at all, way too bitter.",
                "{Product} is not worth the money.",
                "Smells like dust, not coffee.",
            ),
        },
        "gear": {
            "pos": (
                "Solid build, nothing wobbles.",
                "{Product} is great value for money.",
                "I use it every day, works perfectly.",
                "The {name} is the best thing I bought this year.",
                "Feels premium and looks great on the counter.",
                "Bought it as a gift and they loved it.",
            ),
            "mixed": (
                "Works fine but the manual is useless.",
                "Does the job, a bit noisy though.",
                "Not perfect, but okay for home use.",
            ),
            "neg": (
                "Broke after two weeks.",
                "{Product} arrived defective, handle came off.",
                "Flimsy plastic, everything creaks.",
                "Doesn't work as advertised, very disappointed.",
            ),
        },
        "tech": {
            "pos": (
                "Works great, battery lasts forever.",
                "{Product} is awesome, would recommend.",
                "Genuine product, checked the serial number.",
                "Fits perfectly, buttons are clicky.",
                "Charges fast and doesn't get hot.",
                "{name}: works exactly as described.",
            ),
            "mixed": (
                "Fine, but it gets warm while charging.",
                "Works, though I expected more.",
                "Not bad, but the colour isn't like the photo.",
            ),
            "neg": (
                "Stopped charging after a week.",
                "{Product} is a fake, not the original.",
                "Doesn't fit, buttons don't press.",
                "Gets super hot, wouldn't recommend.",
            ),
        },
    },
}

REVIEW_ASPECT: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "ru": {
        "delivery": {
            "pos": (
                "Доставка быстрая, привезли на следующий день.",
                "Курьер вежливый, всё вовремя.",
                "Пришло даже раньше срока.",
            ),
            "mixed": (
                "Доставка задержалась на пару дней, но не критично.",
                "Курьер опоздал, но позвонил заранее.",
            ),
            "neg": (
                "Доставку ждал(а) две недели.",
                "Курьер не приехал, пришлось переносить.",
                "Посылку привезли мятую.",
            ),
        },
        "price": {
            "pos": (
                "Цена адекватная, дешевле чем в других местах.",
                "За такие деньги — отлично.",
                "С бонусами вышло вообще выгодно.",
            ),
            "mixed": ("Цена кусается, но качество того стоит.", "Дороговато, но по акции норм."),
            "neg": ("Не стоит своих денег.", "Цены задрали, раньше было дешевле.", "Переплата ппц."),
        },
        "packaging": {
            "pos": ("Упаковано надёжно, с клапаном.", "Упаковка аккуратная, приятно открывать."),
            "mixed": ("Упаковка простая, но свою функцию выполняет.",),
            "neg": ("Упаковка порвана, всё рассыпалось.", "Коробка пришла мокрая."),
        },
        "service": {
            "pos": ("Поддержка ответила за пять минут.", "Менеджер помог с выбором, спасибо!"),
            "mixed": ("В поддержке ответили, но не сразу.",),
            "neg": ("В поддержке отвечают шаблонами.", "Поддержка игнорит уже неделю."),
        },
    },
    "en": {
        "delivery": {
            "pos": (
                "Fast delivery, arrived the next day.",
                "Courier was polite and on time.",
                "Came earlier than expected.",
            ),
            "mixed": (
                "Delivery was a couple of days late, not a big deal.",
                "Courier was late but called ahead.",
            ),
            "neg": (
                "Waited two weeks for delivery.",
                "Courier never showed up.",
                "The parcel arrived crushed.",
            ),
        },
        "price": {
            "pos": (
                "Fair price, cheaper than elsewhere.",
                "Great for the money.",
                "With the points it was a steal.",
            ),
            "mixed": ("Pricey, but worth it.", "A bit expensive, okay on sale."),
            "neg": ("Not worth the price.", "Prices went up a lot lately.", "Way overpriced."),
        },
        "packaging": {
            "pos": ("Well packed, with a valve bag.", "Neat packaging, nice unboxing."),
            "mixed": ("Basic packaging, but it does the job.",),
            "neg": ("Packaging was torn, stuff spilled everywhere.", "The box arrived wet."),
        },
        "service": {
            "pos": ("Support replied in five minutes.", "The manager helped me choose, thanks!"),
            "mixed": ("Support answered, but not right away.",),
            "neg": ("Support replies with canned answers.", "Support has been ignoring me for a week."),
        },
    },
}
REVIEW_OPENERS = {
    "ru": {
        "pos": (
            "Всё супер!",
            "Отличный магазин.",
            "Рекомендую!",
            "Доволен(льна) покупкой.",
            "Огонь!",
            "Спасибо!",
        ),
        "mixed": ("Ну такое.", "Нормально.", "Есть нюансы.", "Средне."),
        "neg": ("Ужас.", "Разочарован(а).", "Не рекомендую.", "Очень плохо.", "Отстой."),
    },
    "en": {
        "pos": ("Love it!", "Great shop.", "Highly recommend!", "Very happy with this.", "Awesome!"),
        "mixed": ("It's okay.", "Mixed feelings.", "Not great, not terrible.", "Meh."),
        "neg": ("Terrible.", "Very disappointed.", "Would not recommend.", "Awful experience."),
    },
}
REVIEW_CLOSERS = {
    "ru": {
        "pos": ("Буду заказывать ещё.", "Всем советую.", "Однозначно 5 звёзд.", "Спасибо магазину!"),
        "mixed": ("Посмотрим, как будет дальше.", "Может, закажу ещё раз.", "Пока без восторга."),
        "neg": ("Больше не закажу.", "Верните деньги.", "Ушёл(ушла) к конкурентам.", "Больше ни ногой."),
    },
    "en": {
        "pos": ("Will order again.", "Recommend to everyone.", "Five stars.", "Thanks!"),
        "mixed": ("We'll see next time.", "Might order again.", "Not blown away."),
        "neg": ("Never ordering again.", "I want my money back.", "Switching to another shop."),
    },
}
EMOJI = {"pos": ("👍", "😊", "🔥", "☕", "❤️", "👌"), "mixed": ("🤷", "😐"), "neg": ("😡", "👎", "😞", "🤬")}

# --------------------------------------------------------------------------------------------- tickets
TICKET_KINDS = (
    "delivery_delay",
    "damaged",
    "wrong_item",
    "refund_request",
    "payment",
    "account",
    "loyalty",
    "product_question",
)
TICKET_SUBJECTS = {
    "ru": {
        "delivery_delay": (
            "Где мой заказ?",
            "Заказ {order_id} не доставлен",
            "Задержка доставки",
            "Не пришёл заказ",
        ),
        "damaged": ("Товар пришёл повреждённым", "Брак в заказе {order_id}", "Разбитая посылка"),
        "wrong_item": ("Прислали не тот товар", "Ошибка в заказе {order_id}", "Перепутали заказ"),
        "refund_request": ("Возврат денег", "Хочу вернуть товар", "Возврат по заказу {order_id}"),
        "payment": ("Деньги списались дважды", "Не проходит оплата", "Проблема с оплатой"),
        "account": ("Не могу войти в личный кабинет", "Не приходит код подтверждения", "Сменить email"),
        "loyalty": ("Не начислились бонусы", "Вопрос по бонусной программе", "Сгорели баллы"),
        "product_question": ("Вопрос по товару", "Подскажите по выбору", "Есть ли в наличии?"),
    },
    "en": {
        "delivery_delay": (
            "Where is my order?",
            "Order {order_id} not delivered",
            "Delivery delay",
            "Order still not here",
        ),
        "damaged": ("Item arrived damaged", "Defective item in order {order_id}", "Broken parcel"),
        "wrong_item": ("Wrong item sent", "Mistake in order {order_id}", "Got someone else's order"),
        "refund_request": ("Refund request", "I want to return an item", "Return for order {order_id}"),
        "payment": ("Charged twice", "Payment not going through", "Payment problem"),
        "account": ("Can't log in", "Verification code never arrives", "Change my email"),
        "loyalty": ("Points not credited", "Question about the loyalty programme", "My points expired"),
        "product_question": ("Product question", "Need advice choosing", "Is this in stock?"),
    },
}
TICKET_BODIES = {
    "ru": {
        "delivery_delay": (
            "Заказ {order_id} должен был прийти ещё на прошлой неделе, а статус не меняется.",
            "Оформил(а) заказ {order_id}, прошло уже больше недели, трек-номер не отслеживается.",
            "Курьер так и не приехал, заказ {order_id}.",
        ),
        "damaged": (
            "В заказе {order_id} товар пришёл с повреждениями, коробка смята.",
            "Открыл(а) посылку, а там всё разбито. Заказ {order_id}.",
            "{Product} из заказа {order_id} не работает из коробки.",
        ),
        "wrong_item": (
            "Заказывал(а) одно, а пришло совсем другое. Заказ {order_id}.",
            "В заказе {order_id} не хватает одной позиции.",
        ),
        "refund_request": (
            "Хочу оформить возврат по заказу {order_id}, товар не подошёл.",
            "Прошу вернуть деньги за заказ {order_id}.",
            "{Product} не понравился(лась), как сделать возврат? Заказ {order_id}.",
        ),
        "payment": (
            "С карты списали деньги два раза за один заказ.",
            "Пытаюсь оплатить, а банк пишет ошибку.",
        ),
        "account": (
            "Не могу зайти в личный кабинет, пароль не подходит.",
            "Код из СМС не приходит уже час.",
        ),
        "loyalty": (
            "За последний заказ не начислились бонусы.",
            "Куда делись мои баллы? Было больше тысячи.",
        ),
        "product_question": (
            "Подскажите, подойдёт ли эта кофемолка для эспрессо?",
            "Когда снова будет в наличии?",
            "Какой чехол подойдёт к моему телефону?",
        ),
    },
    "en": {
        "delivery_delay": (
            "Order {order_id} was supposed to arrive last week and the status hasn't changed.",
            "Placed order {order_id} over a week ago, tracking number doesn't work.",
            "The courier never came, order {order_id}.",
        ),
        "damaged": (
            "Order {order_id} arrived damaged, the box was crushed.",
            "Opened the parcel and everything was broken. Order {order_id}.",
            "{Product} from order {order_id} doesn't work out of the box.",
        ),
        "wrong_item": (
            "I ordered one thing and got something completely different. Order {order_id}.",
            "One item is missing from order {order_id}.",
        ),
        "refund_request": (
            "I'd like to return order {order_id}, it didn't fit.",
            "Please refund order {order_id}.",
        ),
        "payment": ("My card was charged twice for one order.", "Trying to pay and the bank shows an error."),
        "account": (
            "Can't log into my account, password doesn't work.",
            "The SMS code hasn't arrived for an hour.",
        ),
        "loyalty": ("No points for my last order.", "Where did my points go? I had over a thousand."),
        "product_question": (
            "Will this grinder work for espresso?",
            "When will it be back in stock?",
            "Which case fits my phone?",
        ),
    },
}
URGENCY_CUES = {
    "ru": {
        "high": (
            "СРОЧНО!!!",
            "Пишу уже третий раз!",
            "Это просто безобразие.",
            "Требую немедленно вернуть деньги.",
            "Если сегодня не решите — пишу жалобу в Роспотребнадзор.",
            "Жду ответа немедленно!",
        ),
        "medium": (
            "Прошу разобраться.",
            "Жду ответа.",
            "Пожалуйста, ответьте побыстрее.",
            "Неприятно, честно.",
        ),
        "low": ("Подскажите, пожалуйста.", "Спасибо заранее!", "Не срочно.", "Заранее спасибо :)"),
    },
    "en": {
        "high": (
            "URGENT!!!",
            "This is the third time I'm writing!",
            "Absolutely unacceptable.",
            "Refund me immediately.",
            "Fix this today or I'm filing a chargeback.",
            "Need an answer ASAP!",
        ),
        "medium": (
            "Please look into it.",
            "Waiting for your reply.",
            "Please get back to me soon.",
            "Not happy tbh.",
        ),
        "low": ("No rush, just wondering.", "Thanks in advance!", "Could you help?", "Cheers :)"),
    },
}

# --------------------------------------------------------------------------------------------- surveys
NPS_COMMENTS = {
    "ru": {
        "neg": (
            "Доставка вечно опаздывает.",
            "Цены выросли, а качество нет.",
            "Поддержка не помогла с возвратом.",
            "Кофе был несвежий, больше не рискну.",
            "Сайт тормозит, оформить заказ — мучение.",
            "Не рекомендую, есть магазины получше.",
        ),
        "mixed": (
            "В целом норм, но доставка могла бы быть быстрее.",
            "Хороший выбор, но цены не радуют.",
            "Неплохо, но есть куда расти.",
            "Всё ок, ничего выдающегося.",
        ),
        "pos": (
            "Лучший кофе в городе, всем советую!",
            "Быстро, вкусно, удобно.",
            "Очень нравится ассортимент и бонусы.",
            "Всегда свежая обжарка, спасибо!",
            "Не первый год с вами, всё супер.",
        ),
    },
    "en": {
        "neg": (
            "Delivery is always late.",
            "Prices went up, quality didn't.",
            "Support didn't help with my refund.",
            "Coffee was stale, not risking it again.",
            "The website is so slow at checkout.",
        ),
        "mixed": (
            "Mostly fine, delivery could be faster.",
            "Good selection, prices not so much.",
            "Not bad, room to improve.",
            "It's okay, nothing special.",
        ),
        "pos": (
            "Best coffee in town, recommend to all!",
            "Fast, tasty, convenient.",
            "Love the selection and the points.",
            "Always a fresh roast, thank you!",
        ),
    },
}
CSAT_COMMENTS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "ru": {
        "price": {
            "neg": ("Дорого.", "Цены завышены."),
            "mixed": ("Цена средняя.",),
            "pos": ("Цены отличные.", "Выгодно!"),
        },
        "quality": {
            "neg": ("Качество упало.", "Брак."),
            "mixed": ("Качество нормальное.",),
            "pos": ("Качество супер.",),
        },
        "delivery": {
            "neg": ("Доставка опоздала на три дня.", "Курьер нахамил."),
            "mixed": ("Доставка норм, но окно широкое.",),
            "pos": ("Привезли быстро.", "Курьер молодец."),
        },
        "service": {
            "neg": ("Поддержка не отвечает.",),
            "mixed": ("Ответили не сразу.",),
            "pos": ("Поддержка на высоте.",),
        },
        "site": {
            "neg": ("Сайт глючит при оплате.",),
            "mixed": ("Поиск на сайте так себе.",),
            "pos": ("Удобный сайт.",),
        },
        "assortment": {
            "neg": ("Нужного вечно нет в наличии.",),
            "mixed": ("Выбор мог бы быть больше.",),
            "pos": ("Огромный выбор.",),
        },
    },
    "en": {
        "price": {"neg": ("Too expensive.",), "mixed": ("Average prices.",), "pos": ("Great prices.",)},
        "quality": {"neg": ("Quality dropped.",), "mixed": ("Quality is okay.",), "pos": ("Top quality.",)},
        "delivery": {
            "neg": ("Delivery was three days late.",),
            "mixed": ("Delivery ok, wide time window.",),
            "pos": ("Super fast delivery.",),
        },
        "service": {
            "neg": ("Support never answers.",),
            "mixed": ("Took a while to reply.",),
            "pos": ("Support is great.",),
        },
        "site": {
            "neg": ("Website crashes at checkout.",),
            "mixed": ("Search could be better.",),
            "pos": ("Easy to use site.",),
        },
        "assortment": {
            "neg": ("Never in stock.",),
            "mixed": ("Could have more choice.",),
            "pos": ("Huge selection.",),
        },
    },
}
EXIT_REASONS = ("price", "quality", "service", "competition", "other")
EXIT_COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "ru": {
        "price": (
            "Слишком дорого стало.",
            "Нашёл(нашла) то же самое дешевле.",
            "Цены выросли, а скидок нет.",
            "Доставка платная, невыгодно.",
        ),
        "quality": (
            "Кофе стал хуже, чем раньше.",
            "Дважды пришёл брак.",
            "Качество не то, не свежее.",
            "Не понравилось качество, увы.",
        ),
        "service": (
            "Поддержка так и не решила мою проблему.",
            "Долго доставляют и не отвечают на вопросы.",
            "Курьеры постоянно опаздывают.",
            "Отвратительный сервис возврата.",
        ),
        "competition": (
            "Перешёл(перешла) на маркетплейс, там быстрее.",
            "Теперь беру в кофейне рядом с домом.",
            "У конкурентов бонусы лучше.",
            "Нашёл(нашла) другую обжарку, не плохую кстати.",
        ),
        "other": (
            "Просто перестал(а) пить кофе.",
            "Переехал(а) в другой город.",
            "Нет времени, потом вернусь.",
            "Да просто так.",
        ),
    },
    "en": {
        "price": ("Got too expensive.", "Found the same thing cheaper.", "Prices up, no discounts."),
        "quality": ("Coffee got worse than before.", "Received defective items twice.", "Not fresh anymore."),
        "service": (
            "Support never solved my issue.",
            "Slow delivery and no answers.",
            "Terrible returns process.",
        ),
        "competition": (
            "Switched to a marketplace, it's faster.",
            "Buying at a café near home now.",
            "Competitors have better points.",
        ),
        "other": (
            "I just stopped drinking coffee.",
            "Moved to another city.",
            "No time right now, maybe later.",
        ),
    },
}

_CYRILLIC_GENDER_FORMS = (
    ("ушёл(ушла)", "ушёл", "ушла"),
    ("нашёл(нашла)", "нашёл", "нашла"),
    ("перешёл(перешла)", "перешёл", "перешла"),
    ("доволен(льна)", "доволен", "довольна"),
    ("понравился(лась)", "понравился", "понравилась"),
)


def _gendered(text: str, female: bool) -> str:
    """Resolve "(а)"-style gender markers to the writer's gender (Купил(а) → Купила)."""
    if "(" not in text:
        return text
    for marker, male_form, female_form in _CYRILLIC_GENDER_FORMS:
        form = female_form if female else male_form
        text = text.replace(marker, form).replace(
            marker[:1].upper() + marker[1:], form[:1].upper() + form[1:]
        )
    return text.replace("(а)", "а" if female else "")


def _pick(options: Sequence[str], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


_KEYBOARD_SWAPS = {"ru": "аоеиыя", "en": "aeiou"}


def add_typo(text: str, lang: str, u1: float, u2: float) -> str:
    """One realistic slip: swapped neighbours, a dropped or doubled letter, or a lost capital/ё."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text
    kind = int(u1 * 5)
    i = letters[min(int(u2 * (len(letters) - 1)), len(letters) - 2)]
    if kind == 0 and i + 1 < len(text) and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    if kind == 3 and lang == "ru" and "ё" in text:
        return text.replace("ё", "е")
    return text[:1].lower() + text[1:]


def _finish(parts: list[str], lang: str, tone: str, u: np.ndarray, emoji_rate: float) -> str:
    text = " ".join(p for p in parts if p)
    if u[0] < emoji_rate:
        text = f"{text} {_pick(EMOJI[tone], u[1])}"
    if u[2] < 0.06:
        text = add_typo(text, lang, u[3], u[4])
    elif u[2] < 0.11:
        # Casual style: all lower case, no final full stop.
        text = text.lower().rstrip(".")
    return text


def review_text(lang: str, tone: int, category: str, female: bool, name: str, u: np.ndarray) -> str:
    """One review: optional opener, a product-quality sentence, maybe an aspect, maybe a closer.

    ``u`` holds 14 uniforms in [0, 1) that make every choice.
    """
    tone_name = TONES[tone]
    group = PRODUCT_GROUP[category]
    parts: list[str] = []
    if u[5] < 0.4:
        parts.append(_pick(REVIEW_OPENERS[lang][tone_name], u[6]))
    if u[7] < 0.8 or not parts:
        parts.append(_pick(REVIEW_QUALITY[lang][group][tone_name], u[8]))
    if u[9] < 0.45:
        aspect = _pick(("delivery", "price", "packaging", "service"), u[10])
        parts.append(_pick(REVIEW_ASPECT[lang][aspect][tone_name], u[11]))
    if u[12] < 0.3:
        parts.append(_pick(REVIEW_CLOSERS[lang][tone_name], u[13]))
    if lang == "ru":
        nom, acc = PRODUCT_NOUNS_RU[category]
        values = {
            "Product": nom[:1].upper() + nom[1:],
            "product": nom,
            "product_acc": acc,
            "bought": "Купила" if female else "Купил",
            "name": name,
        }
        parts = [_gendered(p.format(**values), female) for p in parts]
    else:
        noun = PRODUCT_NOUNS_EN[category]
        values = {
            "Product": noun[:1].upper() + noun[1:],
            "product": noun,
            "product_acc": noun,
            "bought": "Bought",
            "name": name,
        }
        parts = [p.format(**values) for p in parts]
    return _finish(parts, lang, tone_name, u, 0.14 if tone != MIXED else 0.05)


def ticket_text(
    lang: str, kind: str, urgency: str, category: str, female: bool, order_id: str, u: np.ndarray
) -> tuple[str, str]:
    """Subject and body of a support ticket; urgency shows in cue phrases (and capitals in the subject)."""
    subject = _pick(TICKET_SUBJECTS[lang][kind], u[5]).format(order_id=order_id)
    body = _pick(TICKET_BODIES[lang][kind], u[6])
    if lang == "ru":
        nom, _ = PRODUCT_NOUNS_RU[category]
        body = _gendered(body.format(order_id=order_id, Product=nom[:1].upper() + nom[1:]), female)
    else:
        noun = PRODUCT_NOUNS_EN[category]
        body = body.format(order_id=order_id, Product=noun[:1].upper() + noun[1:])
    cue = _pick(URGENCY_CUES[lang][urgency], u[7])
    if urgency == "high":
        body = f"{cue} {body}" if u[8] < 0.5 else f"{body} {cue}"
        if u[9] < 0.4:
            subject = f"{'СРОЧНО' if lang == 'ru' else 'URGENT'}: {subject}"
        elif u[9] < 0.6:
            subject = subject.upper()
    elif u[8] < 0.7:
        body = f"{body} {cue}"
    if lang == "ru" and u[10] < 0.5:
        body = f"{_pick(('Здравствуйте!', 'Добрый день.', 'Привет.', 'Добрый вечер!'), u[11])} {body}"
    elif lang == "en" and u[10] < 0.5:
        body = f"{_pick(('Hi!', 'Hello!', 'Hey there.', 'Good afternoon.'), u[11])} {body}"
    tone = "neg" if urgency != "low" else "mixed"
    return subject, _finish([body], lang, tone, u, 0.05 if urgency == "high" else 0.0)


def nps_comment(lang: str, score: int, female: bool, u: np.ndarray) -> str:
    tone = "neg" if score <= 6 else ("mixed" if score <= 8 else "pos")
    parts = [_pick(NPS_COMMENTS[lang][tone], u[5])]
    if u[6] < 0.25:
        parts.append(_pick(NPS_COMMENTS[lang][tone], u[7]))
        if parts[0] == parts[1]:
            parts.pop()
    text = " ".join(parts)
    if lang == "ru":
        text = _gendered(text, female)
    return _finish([text], lang, tone, u, 0.10)


def csat_comment(lang: str, aspect: str, score: int, u: np.ndarray) -> str:
    tone = "neg" if score <= 2 else ("mixed" if score == 3 else "pos")
    return _finish([_pick(CSAT_COMMENTS[lang][aspect][tone], u[5])], lang, tone, u, 0.08)


def exit_comment(lang: str, reason: str, female: bool, u: np.ndarray) -> str:
    text = _pick(EXIT_COMMENTS[lang][reason], u[5])
    if lang == "ru":
        text = _gendered(text, female)
    return _finish([text], lang, "neg" if reason != "other" else "mixed", u, 0.04)
