// A PLM database for the viewer's tests, made with the compiled types and
// closed again, so the viewer opens it as any other program's: parts (one
// with a PNG drawing, one released with a second revision), a bill of
// materials that references two parts, and stock.
#pragma once

#include <QBuffer>
#include <QImage>
#include <QPainter>

#include <string>

#include "plm_fixtures.h"
#include "temp_dir.h"

namespace hills::test {

inline std::string pngBytes() {
  QImage image(48, 32, QImage::Format_RGB32);
  image.fill(QColor(40, 120, 200));
  QPainter(&image).fillRect(8, 8, 16, 16, Qt::yellow);
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  image.save(&buffer, "PNG");
  return bytes.toStdString();
}

// parts 1..count (part 2 released, with a draft revision 1 named "part 2
// revised"); boms 1: assembly part 1, lines of parts 1 and 3; stock 1.
inline void makePlmDatabase(const std::string& dir, int count = 20) {
  Database db(dir, plmOptions());
  db.write([&](WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    for (int i = 1; i <= count; ++i) {
      auto p = makePart(i, 12);
      p.kind = static_cast<plm::Part::Kind>(i % 4);
      p.makeable = i % 2 == 0;
      p.dimensions.width = static_cast<float>(i);
      if (i == 1) {
        auto png = pngBytes();
        p.drawing.assign(png.begin(), png.end());
      }
      parts.create(p);
    }
    parts.release({2, 0});
    auto rev = parts.newRevision({2, 0});
    plm::Part edited = makePart(2, 12);
    edited.name = "part 2 revised";
    edited.kind = plm::Part::Kind::MANUFACTURED;
    edited.makeable = true;
    edited.dimensions.width = 2;
    parts.update(rev, edited);
    plm::Bom bom{};
    bom.assembly = {1, 0};
    bom.notes = "first assembly";
    bom.lines.push_back({{1, 0}, 2.0, {"R1", "R2"}});
    bom.lines.push_back({{3, 0}, 1.0, {"C1"}});
    txn.tree<plm::Bom>().create(bom);
    plm::StockItem item{};
    item.part = {3, 0};
    item.location = "A-03-2";
    item.quantity = 40;
    txn.tree<plm::StockItem>().create(item);
  });
}

}  // namespace hills::test
