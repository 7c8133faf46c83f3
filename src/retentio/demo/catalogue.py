"""The demo shop's product catalogue: ~240 SKUs of coffee, tea and phones, with cross-sell affinities.

The catalogue is fixed (it does not depend on the seed), so that SKUs mean the same thing in every
generated data set. Prices are in whole roubles and stored in kopecks; unit costs follow each category's
gross margin. Names are in Russian (the shop's language, with Latin brand names as Russian shops write
them) and in English; order lines carry the Russian name, reviews by English-speaking customers use the
English one.

``AFFINITIES`` are the *true* in-basket cross-sell probabilities the basket builder uses: given the
order's primary category, each listed category is added with that probability (when the budget allows).
Co-purchase mining on the generated order lines should rediscover them (coffee → syrups and grinders,
phones → cases and chargers, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES = (
    "coffee",
    "tea",
    "syrups",
    "sweets",
    "grinders",
    "coffee_machines",
    "coffee_accessories",
    "teaware",
    "phones",
    "phone_cases",
    "chargers",
    "tech_accessories",
)
CONSUMABLE_CATEGORIES = ("coffee", "tea", "syrups", "sweets")

# Gross margin per category: roasted coffee and accessories are high-margin, phones thin.
MARGINS = {
    "coffee": 0.50,
    "tea": 0.55,
    "syrups": 0.45,
    "sweets": 0.40,
    "grinders": 0.30,
    "coffee_machines": 0.20,
    "coffee_accessories": 0.50,
    "teaware": 0.50,
    "phones": 0.12,
    "phone_cases": 0.65,
    "chargers": 0.45,
    "tech_accessories": 0.60,
}

PRICE_KEY = 10**12  # larger than any price in kopecks

SKU_PREFIX = {
    "coffee": "COF",
    "tea": "TEA",
    "syrups": "SYR",
    "sweets": "SWT",
    "grinders": "GRN",
    "coffee_machines": "MCH",
    "coffee_accessories": "CAC",
    "teaware": "TWR",
    "phones": "PHN",
    "phone_cases": "CAS",
    "chargers": "CHG",
    "tech_accessories": "TAC",
}

# In-basket cross-sell: primary category -> ((added category, probability), ...).
AFFINITIES: dict[str, tuple[tuple[str, float], ...]] = {
    "coffee": (("syrups", 0.22), ("grinders", 0.07), ("coffee_accessories", 0.10), ("sweets", 0.08)),
    "tea": (("teaware", 0.12), ("sweets", 0.22)),
    "syrups": (("coffee", 0.35),),
    "sweets": (("tea", 0.25), ("coffee", 0.15)),
    "grinders": (("coffee", 0.60), ("coffee_accessories", 0.20)),
    "coffee_machines": (("coffee", 0.55), ("grinders", 0.12), ("coffee_accessories", 0.30), ("syrups", 0.10)),
    "coffee_accessories": (("coffee", 0.40),),
    "teaware": (("tea", 0.55), ("sweets", 0.10)),
    "phones": (("phone_cases", 0.55), ("chargers", 0.35), ("tech_accessories", 0.30)),
    "phone_cases": (("tech_accessories", 0.20), ("chargers", 0.10)),
    "chargers": (("tech_accessories", 0.25),),
    "tech_accessories": (("phone_cases", 0.12),),
}

# Customer interest segments: share, the categories an order is led by when it is a "refill"
# (consumable-led) order, and those it is led by when it is a durable purchase.
SEGMENTS: dict[str, dict[str, dict[str, float]]] = {
    "coffee": {
        "refill": {"coffee": 0.80, "syrups": 0.10, "sweets": 0.05, "coffee_accessories": 0.05},
        "durable": {"grinders": 0.35, "coffee_machines": 0.40, "coffee_accessories": 0.25},
    },
    "tea": {
        "refill": {"tea": 0.82, "sweets": 0.13, "syrups": 0.05},
        "durable": {"teaware": 0.75, "coffee_accessories": 0.10, "coffee_machines": 0.15},
    },
    "tech": {
        "refill": {"tech_accessories": 0.45, "phone_cases": 0.30, "chargers": 0.15, "coffee": 0.10},
        "durable": {"phones": 0.80, "chargers": 0.20},
    },
    "mixed": {
        "refill": {"coffee": 0.45, "tea": 0.30, "sweets": 0.10, "tech_accessories": 0.15},
        "durable": {"coffee_machines": 0.30, "grinders": 0.15, "phones": 0.35, "teaware": 0.20},
    },
}
SEGMENT_NAMES = tuple(SEGMENTS)
# The consumable a segment tops its baskets up with.
FILLER = {"coffee": "coffee", "tea": "tea", "tech": "tech_accessories", "mixed": "coffee"}


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    name_ru: str
    name_en: str
    price_minor: int
    cost_minor: int


def _coffee() -> list[tuple[str, str, int]]:
    origins = [
        ("Бразилия Сантос", "Brazil Santos", 490),
        ("Колумбия Супремо", "Colombia Supremo", 590),
        ("Эфиопия Иргачеффе", "Ethiopia Yirgacheffe", 720),
        ("Кения АА", "Kenya AA", 790),
        ("Гватемала Антигуа", "Guatemala Antigua", 650),
        ("Коста-Рика Тарразу", "Costa Rica Tarrazu", 690),
        ("Индия Плантейшн", "India Plantation", 520),
        ("Руанда Бурбон", "Rwanda Bourbon", 760),
        ("Никарагуа Марагоджип", "Nicaragua Maragogype", 740),
        ("Перу Органик", "Peru Organic", 610),
        ("Суматра Мандхелинг", "Sumatra Mandheling", 680),
        ("Эспрессо-смесь Классика", "Espresso blend Classic", 550),
        ("Эспрессо-смесь Крема", "Espresso blend Crema", 590),
        ("Декаф Колумбия", "Decaf Colombia", 640),
    ]
    formats = [
        ("в зёрнах 250 г", "whole bean 250 g", 1.0),
        ("в зёрнах 1 кг", "whole bean 1 kg", 3.4),
        ("молотый 250 г", "ground 250 g", 1.0),
    ]
    out = []
    for origin_ru, origin_en, base in origins:
        for fmt_ru, fmt_en, mult in formats:
            price = round(base * mult / 10.0) * 10 - 10
            out.append((f"Кофе {origin_ru} {fmt_ru}", f"Coffee {origin_en} {fmt_en}", price))
    return out


def _tea() -> list[tuple[str, str, int]]:
    teas = [
        ("Эрл Грей", "Earl Grey", 390),
        ("Ассам", "Assam", 350),
        ("Сенча", "Sencha", 490),
        ("Молочный улун", "Milk oolong", 590),
        ("Да Хун Пао", "Da Hong Pao", 790),
        ("Шу пуэр", "Shou puerh", 690),
        ("Те Гуань Инь", "Tie Guan Yin", 650),
        ("Жасминовый", "Jasmine green", 450),
        ("Ромашковый", "Chamomile", 290),
        ("Иван-чай", "Ivan-chai fireweed", 320),
        ("Дарджилинг", "Darjeeling", 620),
        ("Матча", "Matcha", 990),
    ]
    out = []
    for ru, en, base in teas:
        out.append((f"Чай {ru} 100 г", f"{en} tea 100 g", base))
        out.append((f"Чай {ru} 250 г", f"{en} tea 250 g", round(base * 2.2 / 10.0) * 10 - 10))
    return out


def _syrups() -> list[tuple[str, str, int]]:
    flavours = [
        ("Ваниль", "Vanilla"),
        ("Карамель", "Caramel"),
        ("Солёная карамель", "Salted caramel"),
        ("Лесной орех", "Hazelnut"),
        ("Кокос", "Coconut"),
        ("Миндаль", "Almond"),
        ("Ирландский крем", "Irish cream"),
        ("Шоколад", "Chocolate"),
        ("Мята", "Mint"),
        ("Имбирный пряник", "Gingerbread"),
        ("Лаванда", "Lavender"),
        ("Тыквенный пирог", "Pumpkin pie"),
        ("Кленовый", "Maple"),
        ("Малина", "Raspberry"),
        ("Банан", "Banana"),
    ]
    return [
        (f"Сироп {ru} 250 мл", f"{en} syrup 250 ml", 390 + 50 * (i % 4))
        for i, (ru, en) in enumerate(flavours)
    ]


def _sweets() -> list[tuple[str, str, int]]:
    return [
        ("Шоколад горький 70% 100 г", "Dark chocolate 70% 100 g", 250),
        ("Шоколад молочный с фундуком 100 г", "Milk chocolate with hazelnuts 100 g", 230),
        ("Бискотти миндальные 200 г", "Almond biscotti 200 g", 390),
        ("Кантуччи с фисташкой 200 г", "Pistachio cantucci 200 g", 450),
        ("Вафли венские 250 г", "Viennese waffles 250 g", 290),
        ("Зефир ванильный 300 г", "Vanilla zefir 300 g", 320),
        ("Пастила яблочная 200 г", "Apple pastila 200 g", 350),
        ("Макаруны ассорти 12 шт.", "Macarons assorted 12 pcs", 590),
        ("Мармелад фруктовый 300 г", "Fruit jelly candies 300 g", 270),
        ("Козинак подсолнечный 150 г", "Sunflower kozinaki 150 g", 150),
        ("Трюфели шоколадные 200 г", "Chocolate truffles 200 g", 490),
        ("Печенье овсяное 300 г", "Oat cookies 300 g", 190),
    ]


def _grinders() -> list[tuple[str, str, int]]:
    return [
        ("Кофемолка электрическая Kitfort КТ-1305", "Kitfort KT-1305 electric grinder", 1990),
        ("Кофемолка электрическая Bosch TSM6A013", "Bosch TSM6A013 electric grinder", 1890),
        ("Кофемолка ручная Timemore C2", "Timemore C2 hand grinder", 4990),
        ("Кофемолка ручная Timemore C3", "Timemore C3 hand grinder", 6490),
        ("Кофемолка ручная Hario Skerton Pro", "Hario Skerton Pro hand grinder", 5490),
        ("Кофемолка жерновая DeLonghi KG 79", "DeLonghi KG 79 burr grinder", 4990),
        ("Кофемолка ручная 1Zpresso JX", "1Zpresso JX hand grinder", 12990),
        ("Кофемолка Baratza Encore", "Baratza Encore grinder", 19990),
        ("Кофемолка Bork J710", "Bork J710 grinder", 24990),
        ("Кофемолка ручная Comandante C40", "Comandante C40 hand grinder", 32900),
        ("Кофемолка Fellow Ode", "Fellow Ode grinder", 34900),
        ("Кофемолка Eureka Mignon Silenzio", "Eureka Mignon Silenzio grinder", 39900),
    ]


def _machines() -> list[tuple[str, str, int]]:
    return [
        ("Капельная кофеварка Philips HD7461", "Philips HD7461 drip coffee maker", 4990),
        ("Капсульная кофемашина Dolce Gusto Piccolo XS", "Dolce Gusto Piccolo XS capsule machine", 5990),
        ("Рожковая кофеварка Kitfort КТ-740", "Kitfort KT-740 espresso maker", 6490),
        ("Рожковая кофеварка Polaris PCM 1527", "Polaris PCM 1527 espresso maker", 7990),
        ("Капсульная кофемашина Nespresso Essenza Mini", "Nespresso Essenza Mini capsule machine", 8990),
        ("Кофемашина Philips EP2231", "Philips EP2231 bean-to-cup machine", 34990),
        ("Кофемашина DeLonghi Magnifica S ECAM 22.110", "DeLonghi Magnifica S ECAM 22.110", 39990),
        ("Кофемашина Gaggia Classic Pro", "Gaggia Classic Pro espresso machine", 54990),
        ("Кофемашина Lelit Anna", "Lelit Anna espresso machine", 59990),
        ("Кофемашина Breville Barista Express", "Breville Barista Express", 69990),
        ("Кофемашина Bork C804", "Bork C804 coffee machine", 89990),
        ("Кофемашина Rancilio Silvia", "Rancilio Silvia espresso machine", 99990),
        ("Кофемашина Jura E8", "Jura E8 bean-to-cup machine", 129990),
        ("Кофемашина Saeco Xelsis", "Saeco Xelsis bean-to-cup machine", 149990),
        ("Кофемашина DeLonghi Dinamica Plus", "DeLonghi Dinamica Plus", 79990),
    ]


def _coffee_accessories() -> list[tuple[str, str, int]]:
    return [
        ("Фильтры бумажные для V60 100 шт.", "V60 paper filters 100 pcs", 490),
        ("Воронка Hario V60 02", "Hario V60 02 dripper", 1490),
        ("Кемекс Classic на 6 чашек", "Chemex Classic 6 cups", 6990),
        ("Френч-пресс Bodum Chambord 1 л", "Bodum Chambord French press 1 l", 3990),
        ("Весы с таймером Timemore Black Mirror", "Timemore Black Mirror scale", 5990),
        ("Чайник с носиком гусиная шея 600 мл", "Gooseneck kettle 600 ml", 3490),
        ("Питчер для молока 600 мл", "Milk pitcher 600 ml", 1290),
        ("Темпер 58 мм", "Tamper 58 mm", 2490),
        ("Термокружка KeepCup 340 мл", "KeepCup travel mug 340 ml", 2290),
        ("Аэропресс AeroPress Original", "AeroPress Original", 4490),
        ("Капучинатор ручной", "Handheld milk frother", 890),
        ("Чашка для капучино 180 мл", "Cappuccino cup 180 ml", 790),
        ("Набор чашек для эспрессо 2 шт.", "Espresso cups set of 2", 1190),
        ("Средство для удаления накипи 500 мл", "Descaler 500 ml", 690),
        ("Таблетки для чистки кофемашин 10 шт.", "Coffee machine cleaning tablets 10 pcs", 790),
        ("Нокбокс для кофейной таблетки", "Knock box", 1790),
        ("Гейзерная кофеварка Bialetti Moka Express на 3 чашки", "Bialetti Moka Express 3 cups", 2990),
        ("Колд брю заварник Hario 1 л", "Hario cold brew bottle 1 l", 2490),
        ("Турка медная 400 мл", "Copper cezve 400 ml", 1990),
        ("Дозатор для молотого кофе", "Coffee dosing cup", 990),
    ]


def _teaware() -> list[tuple[str, str, int]]:
    return [
        ("Чайник заварочный стеклянный 600 мл", "Glass teapot 600 ml", 1290),
        ("Гайвань фарфоровая 150 мл", "Porcelain gaiwan 150 ml", 1490),
        ("Чабань бамбуковая", "Bamboo tea tray", 3490),
        ("Набор пиал 6 шт.", "Tea bowls set of 6", 1690),
        ("Термос для чая 500 мл", "Tea thermos 500 ml", 2490),
        ("Ситечко для чая", "Tea strainer", 390),
        ("Электрочайник Xiaomi Mi Kettle", "Xiaomi Mi electric kettle", 2990),
        ("Чайная пара 250 мл", "Cup and saucer 250 ml", 890),
        ("Чайник исинская глина 200 мл", "Yixing clay teapot 200 ml", 4990),
        ("Френч-пресс для чая 350 мл", "Tea press 350 ml", 1190),
        ("Набор для чайной церемонии", "Tea ceremony set", 6990),
        ("Колба-заварник Kamjove", "Kamjove tea maker", 2290),
    ]


PHONE_MODELS = [
    ("Apple iPhone 15 128 ГБ", "Apple iPhone 15 128 GB", 84990),
    ("Apple iPhone 15 Pro 256 ГБ", "Apple iPhone 15 Pro 256 GB", 129990),
    ("Apple iPhone 14 128 ГБ", "Apple iPhone 14 128 GB", 69990),
    ("Apple iPhone 13 128 ГБ", "Apple iPhone 13 128 GB", 59990),
    ("Samsung Galaxy S24 256 ГБ", "Samsung Galaxy S24 256 GB", 79990),
    ("Samsung Galaxy S23 FE 128 ГБ", "Samsung Galaxy S23 FE 128 GB", 49990),
    ("Samsung Galaxy Z Flip5 256 ГБ", "Samsung Galaxy Z Flip5 256 GB", 89990),
    ("Samsung Galaxy A55 128 ГБ", "Samsung Galaxy A55 128 GB", 36990),
    ("Samsung Galaxy A15 128 ГБ", "Samsung Galaxy A15 128 GB", 15990),
    ("Xiaomi 14 256 ГБ", "Xiaomi 14 256 GB", 69990),
    ("Xiaomi Redmi Note 13 Pro 256 ГБ", "Xiaomi Redmi Note 13 Pro 256 GB", 27990),
    ("Xiaomi Redmi 13C 128 ГБ", "Xiaomi Redmi 13C 128 GB", 10990),
    ("Xiaomi Redmi A3 64 ГБ", "Xiaomi Redmi A3 64 GB", 8990),
    ("POCO X6 Pro 256 ГБ", "POCO X6 Pro 256 GB", 29990),
    ("realme 12 Pro 256 ГБ", "realme 12 Pro 256 GB", 27990),
    ("HONOR 90 256 ГБ", "HONOR 90 256 GB", 32990),
    ("HONOR X8b 128 ГБ", "HONOR X8b 128 GB", 17990),
    ("Tecno Spark 20 128 ГБ", "Tecno Spark 20 128 GB", 11990),
    ("Infinix Note 40 256 ГБ", "Infinix Note 40 256 GB", 16990),
    ("Google Pixel 8 128 ГБ", "Google Pixel 8 128 GB", 64990),
    ("OnePlus 12 256 ГБ", "OnePlus 12 256 GB", 74990),
    ("Nothing Phone (2a) 128 ГБ", "Nothing Phone (2a) 128 GB", 34990),
    ("Huawei nova 12 256 ГБ", "Huawei nova 12 256 GB", 39990),
    ("vivo V30 256 ГБ", "vivo V30 256 GB", 36990),
]


def _phones() -> list[tuple[str, str, int]]:
    return [(f"Смартфон {ru}", f"{en} smartphone", price) for ru, en, price in PHONE_MODELS]


def _cases() -> list[tuple[str, str, int]]:
    models = ["iPhone 15", "iPhone 15 Pro", "iPhone 13", "Galaxy S24", "Galaxy A55", "Redmi Note 13 Pro"]
    kinds = [
        ("силиконовый", "silicone", 790),
        ("прозрачный MagSafe", "clear MagSafe", 1490),
        ("кожаный", "leather", 2490),
        ("противоударный", "rugged", 1290),
        ("книжка", "flip wallet", 1190),
    ]
    return [
        (f"Чехол {kind_ru} для {model}", f"{kind_en.capitalize()} case for {model}", price)
        for model in models
        for kind_ru, kind_en, price in kinds
    ]


def _chargers() -> list[tuple[str, str, int]]:
    return [
        ("Сетевое зарядное устройство USB-C 20 Вт", "USB-C wall charger 20 W", 1290),
        ("Зарядное устройство Apple USB-C 20 Вт", "Apple USB-C power adapter 20 W", 2290),
        ("Зарядное устройство Samsung 25 Вт", "Samsung 25 W charger", 1690),
        ("Зарядное устройство Samsung 45 Вт", "Samsung 45 W charger", 2790),
        ("Зарядное устройство Anker Nano 30 Вт", "Anker Nano charger 30 W", 2490),
        ("Зарядное устройство Ugreen Nexode 65 Вт GaN", "Ugreen Nexode 65 W GaN charger", 3990),
        ("Зарядное устройство Baseus 100 Вт GaN", "Baseus 100 W GaN charger", 4990),
        ("Зарядное устройство 2×USB-A 12 Вт", "Dual USB-A charger 12 W", 690),
        ("Автомобильное зарядное устройство 36 Вт", "Car charger 36 W", 1190),
        ("Беспроводная зарядка MagSafe 15 Вт", "MagSafe wireless charger 15 W", 2990),
        ("Беспроводная зарядка Qi 10 Вт", "Qi wireless charger 10 W", 1490),
        ("Зарядная станция 3-в-1", "3-in-1 charging station", 5490),
        ("Внешний аккумулятор Xiaomi 10000 мА·ч", "Xiaomi power bank 10000 mAh", 1990),
        ("Внешний аккумулятор Anker 20000 мА·ч", "Anker power bank 20000 mAh", 4490),
        ("Внешний аккумулятор Baseus 30000 мА·ч", "Baseus power bank 30000 mAh", 4990),
    ]


def _tech_accessories() -> list[tuple[str, str, int]]:
    glass_models = ["iPhone 15", "iPhone 13", "Galaxy S24", "Galaxy A55", "Redmi Note 13 Pro", "POCO X6 Pro"]
    glass = [
        (f"Защитное стекло для {m}", f"Screen protector for {m}", 490 + 100 * (i % 3))
        for i, m in enumerate(glass_models)
    ]
    return [
        *glass,
        ("Кабель USB-C — USB-C 1 м", "USB-C to USB-C cable 1 m", 490),
        ("Кабель USB-C — USB-C 2 м", "USB-C to USB-C cable 2 m", 690),
        ("Кабель USB-C — Lightning 1 м", "USB-C to Lightning cable 1 m", 1290),
        ("Кабель магнитный USB-C", "Magnetic USB-C cable", 790),
        ("Автомобильный держатель для телефона", "Car phone mount", 990),
        ("Попсокет", "PopSocket grip", 390),
        ("Подставка для телефона алюминиевая", "Aluminium phone stand", 790),
        ("Карта памяти microSD 128 ГБ", "microSD card 128 GB", 1490),
        ("Переходник USB-C — jack 3,5 мм", "USB-C to 3.5 mm adapter", 590),
        ("Салфетки для экранов 50 шт.", "Screen wipes 50 pcs", 290),
        ("Наушники Xiaomi Redmi Buds 5", "Xiaomi Redmi Buds 5 earbuds", 3990),
        ("Наушники Apple AirPods 3", "Apple AirPods 3", 17990),
        ("Ремешок для смарт-часов", "Smartwatch strap", 690),
        ("Селфи-палка с треногой", "Selfie stick tripod", 1190),
    ]


_BUILDERS = {
    "coffee": _coffee,
    "tea": _tea,
    "syrups": _syrups,
    "sweets": _sweets,
    "grinders": _grinders,
    "coffee_machines": _machines,
    "coffee_accessories": _coffee_accessories,
    "teaware": _teaware,
    "phones": _phones,
    "phone_cases": _cases,
    "chargers": _chargers,
    "tech_accessories": _tech_accessories,
}


def build_products() -> list[Product]:
    """The fixed product list, in category order, with deterministic unit costs."""
    products: list[Product] = []
    jitter = np.random.default_rng(20230101)  # fixed: the catalogue is the same for every seed
    for category in CATEGORIES:
        margin = MARGINS[category]
        for i, (name_ru, name_en, price_rub) in enumerate(_BUILDERS[category]()):
            price_minor = int(price_rub) * 100
            cost_share = 1.0 - margin + float(jitter.uniform(-0.05, 0.05))
            cost_minor = round(price_minor * cost_share)
            products.append(
                Product(
                    sku=f"{SKU_PREFIX[category]}-{i + 1:03d}",
                    category=category,
                    name_ru=name_ru,
                    name_en=name_en,
                    price_minor=price_minor,
                    cost_minor=cost_minor,
                )
            )
    return products


class Catalogue:
    """Array view of the products, indexed for vectorised basket building.

    Within each category the products are kept sorted by price (``by_price[c]`` holds global product
    indices), so that "a product of category c that fits the remaining budget" is one ``searchsorted``.
    """

    def __init__(self, products: list[Product] | None = None) -> None:
        self.products = products if products is not None else build_products()
        self.sku = np.array([p.sku for p in self.products], dtype=object)
        self.category_index = np.array([CATEGORIES.index(p.category) for p in self.products], dtype=np.int64)
        self.price_minor = np.array([p.price_minor for p in self.products], dtype=np.int64)
        self.cost_minor = np.array([p.cost_minor for p in self.products], dtype=np.int64)
        self.by_price: list[np.ndarray] = []
        self.sorted_prices: list[np.ndarray] = []
        self.popularity: list[np.ndarray] = []
        for c in range(len(CATEGORIES)):
            members = np.flatnonzero(self.category_index == c)
            order = np.argsort(self.price_minor[members], kind="stable")
            members = members[order]
            self.by_price.append(members)
            self.sorted_prices.append(self.price_minor[members])
            # Popularity within a category: Zipf-like over a fixed shuffle, so bestsellers exist and are
            # not simply the cheapest items.
            ranks = np.random.default_rng(1000 + c).permutation(len(members))
            weights = 1.0 / (1.0 + ranks) ** 0.9
            self.popularity.append(weights / weights.sum())
        # Flat tables over all categories, so one searchsorted serves rows of any category:
        # keys are category·PRICE_KEY + price (and category + cumulative popularity).
        self.offsets = np.concatenate([[0], np.cumsum([len(m) for m in self.by_price])]).astype(np.int64)
        self.flat_by_price = np.concatenate(self.by_price)
        self.flat_price_keys = np.concatenate(
            [c * PRICE_KEY + prices for c, prices in enumerate(self.sorted_prices)]
        ).astype(np.int64)
        self.flat_popularity_keys = np.concatenate(
            [c + np.cumsum(pop) for c, pop in enumerate(self.popularity)]
        )
        for c in range(len(CATEGORIES)):
            self.flat_popularity_keys[self.offsets[c + 1] - 1] = c + 1.0  # guard against rounding

    def n_affordable(self, category: np.ndarray, budget_minor: np.ndarray) -> np.ndarray:
        """How many products of each row's category cost at most the row's budget (0 for category −1)."""
        c = np.maximum(category, 0)
        budget = np.clip(budget_minor, -1, PRICE_KEY - 1)
        n = np.searchsorted(self.flat_price_keys, c * PRICE_KEY + budget, side="right") - self.offsets[c]
        return np.where(category >= 0, np.maximum(n, 0), 0)

    def by_rank(self, category: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """Product index of the ``rank``-th cheapest product of each row's category."""
        return np.asarray(self.flat_by_price[self.offsets[category] + rank], dtype=np.int64)

    def popular(self, category: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A bestseller-weighted product of each row's category, for uniforms ``u``."""
        pos = np.searchsorted(self.flat_popularity_keys, category + u, side="left")
        pos = np.clip(pos, self.offsets[category], self.offsets[category + 1] - 1)
        return np.asarray(self.flat_by_price[pos], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.products)

    def category_min_price(self, c: int) -> int:
        return int(self.sorted_prices[c][0])

    def describe(self) -> list[dict[str, object]]:
        """The catalogue as plain records for ``metadata.json``."""
        return [
            {
                "sku": p.sku,
                "category": p.category,
                "name_ru": p.name_ru,
                "name_en": p.name_en,
                "price": f"{p.price_minor // 100}.{p.price_minor % 100:02d}",
                "unit_cost": f"{p.cost_minor // 100}.{p.cost_minor % 100:02d}",
                "consumable": p.category in CONSUMABLE_CATEGORIES,
            }
            for p in self.products
        ]
