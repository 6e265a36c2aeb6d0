// A probe around MicroOcpp's California pricing (PR #439): a 1.6 charger over mongoose's
// WebSocket client that prints, as JSON lines on stdout, what the firmware would show.
// usage: mo_california_probe ws://127.0.0.1:PORT/ocpp/CPID "Basic ..." IDTAG SECONDS
#include <MicroOcpp.h>
#include <MicroOcpp/Context.h>
#include <MicroOcpp/Core/Connection.h>
#include <MicroOcpp/Model/Model.h>
#include <MicroOcpp/Model/Configuration/ConfigurationService.h>
#include <MicroOcpp/Model/Configuration/Configuration.h>
#include <MicroOcpp/Model/California/CaliforniaService.h>
#include "mongoose.h"
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

static std::string jsonString(const char *s) {
    std::string out = "\"";
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '"' || *p == '\\') { out += '\\'; out += *p; }
        else if ((unsigned char)*p < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", *p); out += b; }
        else out += *p;
    }
    return out + "\"";
}
static void emit(const char *what, const std::string &value) {
    printf("{\"probe\": \"%s\", \"value\": %s}\n", what, value.c_str());
    fflush(stdout);
}

class MongooseConnection : public MicroOcpp::Connection {
    struct mg_mgr mgr;
    struct mg_connection *ws = nullptr;
    bool open = false;
    static void handler(struct mg_connection *c, int ev, void *ev_data) {
        auto self = (MongooseConnection*) c->fn_data;
        if (ev == MG_EV_WS_OPEN) { self->open = true; emit("ws", "\"open\""); }
        else if (ev == MG_EV_WS_MSG) {
            auto wm = (struct mg_ws_message*) ev_data;
            self->receiveTXT(wm->data.buf, wm->data.len);
        } else if (ev == MG_EV_ERROR) { emit("ws_error", jsonString((char*) ev_data)); }
        else if (ev == MG_EV_CLOSE) { self->open = false; self->ws = nullptr; emit("ws", "\"closed\""); }
    }
public:
    MongooseConnection(const char *url, const char *auth) {
        mg_mgr_init(&mgr);
        std::string headers = "Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: ";
        headers += auth;
        headers += "\r\n";
        ws = mg_ws_connect(&mgr, url, handler, this, "%s", headers.c_str());
    }
    void loop() override { mg_mgr_poll(&mgr, 5); }
    bool sendTXT(const char *msg, size_t length) override {
        if (!ws || !open) return false;
        mg_ws_send(ws, msg, length, WEBSOCKET_OP_TEXT);
        return true;
    }
    bool isConnected() override { return open; }
    bool closed() const { return !ws; }
};

static int32_t energyWh = 0;
static bool plugged = false;

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s URL AUTH IDTAG SECONDS\n", argv[0]); return 2; }
    const char *idTag = argv[3];
    int seconds = atoi(argv[4]);
    MongooseConnection connection(argv[1], argv[2]);
    mo_initialize();
    mo_setFilesystemConfig(MO_FS_OPT_DISABLE);
    mo_setOcppVersion(MO_OCPP_V16);
    mo_setBootNotificationData("MO-California-probe", "MicroOcpp");
    mo_setConnection(MicroOcpp::makeCppConnectionAdapter(&connection));
    mo_setConnectorPluggedInput([] () {return plugged;});
    mo_setEnergyMeterInput([] () {return energyWh;});
    mo_setup();
    auto ctx = mo_getContext();
    auto configs = ctx->getModel16().getConfigurationService();
    if (!configs) { emit("error", "\"no configuration service\""); return 3; }
    auto display = configs->getConfiguration("CustomDisplayCostAndPrice");
    if (!display) { emit("error", "\"no CustomDisplayCostAndPrice\""); return 3; }
    display->setBool(true);
    auto interval = configs->getConfiguration("MeterValueSampleInterval");
    // Energy only: with two measurands listed, this MicroOcpp's updateInputSelectFlag() clears
    // the flag of every input but the last one's (each measurand un-selects the others).
    if (auto sampled = configs->getConfiguration("MeterValuesSampledData")) sampled->setString("Energy.Active.Import.Register");
    auto california = ctx->getModel16().getCaliforniaService();
    if (!california) { emit("error", "\"no California service\""); return 3; }
    auto evse = california->getEvse(1);
    if (!evse) { emit("error", "\"no California EVSE 1\""); return 3; }
    evse->setPriceTextOutput([] (unsigned int, const char *t, void*) {emit("priceText", jsonString(t));}, nullptr);
    evse->setkWhPriceOutput([] (unsigned int, float v, void*) {emit("kWhPrice", std::to_string(v));}, nullptr);
    evse->setHourPriceOutput([] (unsigned int, float v, void*) {emit("hourPrice", std::to_string(v));}, nullptr);
    evse->setCostOutput([] (unsigned int, float v, void*) {emit("cost", std::to_string(v));}, nullptr);
    evse->setChargingStatusOutput([] (unsigned int, bool v, void*) {emit("charging", v ? "true" : "false");}, nullptr);
    evse->setIdleGraceMinutesOutput([] (unsigned int, int v, void*) {emit("idleGraceMinutes", std::to_string(v));}, nullptr);
    evse->setQrCodeTextOutput([] (unsigned int, const char *t, void*) {emit("qrCodeText", jsonString(t));}, nullptr);
    evse->setContentOutput([] (unsigned int, const char *f, const char *l, const char *c, void*) {
        emit("content", "[" + jsonString(f) + ", " + jsonString(l) + ", " + jsonString(c) + "]");}, nullptr);

    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + std::chrono::seconds(seconds + 30);
    clock::time_point started{}, stopped{};
    enum {BOOT, CHARGING, ENDING, DONE} phase = BOOT;
    while (clock::now() < deadline && phase != DONE && !connection.closed()) {
        connection.loop();
        mo_loop();
        auto now = clock::now();
        if (phase == BOOT && mo_isAcceptedByCsms()) {
            emit("phase", "\"accepted\"");
            plugged = true;
            mo_beginTransaction(idTag);
            started = now;
            phase = CHARGING;
        } else if (phase == CHARGING) {
            // Samples every 2 s whatever the box asked for, so that a short run sees RunningCost.
            if (interval && interval->getInt() != 2) interval->setInt(2);
            energyWh = (int32_t) std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count();  // 1 Wh a ms: 3.6 MW
            if (now - started > std::chrono::seconds(seconds)) {
                energyWh = seconds * 1000;
                mo_endTransaction(idTag, "Local");
                emit("phase", "\"stopping\"");
                stopped = now;
                phase = ENDING;
            }
        } else if (phase == ENDING && now - stopped > std::chrono::seconds(3) && !mo_isTransactionRunning()) {
            phase = DONE;
        }
    }
    emit("phase", phase == DONE ? "\"done\"" : "\"timeout\"");
    mo_deinitialize();
    return phase == DONE ? 0 : 1;
}
