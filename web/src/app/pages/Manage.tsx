/* Datasets, templates, monitors and settings: one module each under ./manage; the routes import them from here. */

export { DatasetsPage } from "./manage/Datasets";
export { MonitorsPage } from "./manage/Monitors";
export { SettingsPage } from "./manage/Settings";
export { TemplatesPage } from "./manage/Templates";
