// hills-viewer DIR [--write] [--server HOST:PORT --name NAME --token TOKEN
//                    [--trees T1,T2...]
//                    [--plaintext | --fingerprint F | --ca-file F --server-name N]]
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>

#include <cstdio>
#include <string>
#include <vector>

#include "main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("hills-viewer"));
  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("Browse, search and edit a hills database without compiled types.\n"
                     "Opens DIR read-only beside the programs that use it; --write opens a\n"
                     "plain database to edit; --server, --name and --token open DIR as a sync\n"
                     "client's replica (created when absent) to edit with borrows."));
  parser.addHelpOption();
  parser.addPositionalArgument(QStringLiteral("DIR"), QStringLiteral("the database directory"));
  QCommandLineOption write(QStringLiteral("write"), QStringLiteral("open a plain database writable"));
  QCommandLineOption server(QStringLiteral("server"), QStringLiteral("the hills-server to sync with"),
                            QStringLiteral("HOST:PORT"));
  QCommandLineOption name(QStringLiteral("name"), QStringLiteral("this client's name on the server"),
                          QStringLiteral("NAME"));
  QCommandLineOption token(QStringLiteral("token"), QStringLiteral("this client's token"),
                           QStringLiteral("TOKEN"));
  QCommandLineOption plaintext(
      QStringLiteral("plaintext"),
      QStringLiteral("plain TCP to a server configured \"plaintext\": true"));
  QCommandLineOption fingerprint(QStringLiteral("fingerprint"),
                                 QStringLiteral("the server certificate's fingerprint, as "
                                                "hills-server prints it"),
                                 QStringLiteral("sha256:HEX"));
  QCommandLineOption caFile(QStringLiteral("ca-file"),
                            QStringLiteral("the CA certificates (PEM) the server's must lead to"),
                            QStringLiteral("FILE"));
  QCommandLineOption serverName(QStringLiteral("server-name"),
                                QStringLiteral("the host name the server's certificate must hold"),
                                QStringLiteral("NAME"));
  QCommandLineOption trees(
      QStringLiteral("trees"),
      QStringLiteral("replicate these trees only (comma-separated), as an account limited to "
                     "some trees must; records of the others are fetched from the server"),
      QStringLiteral("T1,T2"));
  parser.addOptions(
      {write, server, name, token, trees, plaintext, fingerprint, caFile, serverName});
  parser.process(app);
  if (parser.positionalArguments().size() != 1) {
    std::fprintf(stderr, "hills-viewer: name one database directory (see --help)\n");
    return 2;
  }
  std::string dir = parser.positionalArguments().front().toStdString();
  if (parser.isSet(server) && (!parser.isSet(name) || !parser.isSet(token))) {
    std::fprintf(stderr, "hills-viewer: --server needs --name and --token\n");
    return 2;
  }
  if (parser.isSet(trees) && !parser.isSet(server)) {
    std::fprintf(stderr, "hills-viewer: --trees is for a sync client (--server)\n");
    return 2;
  }
  std::vector<std::string> replicated;
  for (const auto& tree : parser.value(trees).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
    replicated.push_back(tree.trimmed().toStdString());
  }
  std::unique_ptr<hills::viewer::Workspace> ws;
  try {
    ws = parser.isSet(server)
             ? hills::viewer::Workspace::openClient(dir, parser.value(server).toStdString(),
                                                    parser.value(name).toStdString(),
                                                    parser.value(token).toStdString(),
                                                    parser.isSet(plaintext),
                                                    hills::ClientTls{
                                                        parser.value(caFile).toStdString(),
                                                        parser.value(serverName).toStdString(),
                                                        parser.value(fingerprint).toStdString()},
                                                    replicated)
             : hills::viewer::Workspace::openLocal(dir, parser.isSet(write));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hills-viewer: %s\n", e.what());
    return 1;
  }
  hills::viewer::MainWindow window(std::move(ws));
  window.show();
  return app.exec();
}
