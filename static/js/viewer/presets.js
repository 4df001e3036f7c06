// Window presets on keys 1-6, in modality values. They are Hounsfield-unit windows, so they apply
// to CT only; other modalities keep their own window (key 0 returns to it everywhere).

/** @typedef {{key: string, name: string, center: number, width: number}} Preset */

/** @type {Record<string, Preset[]>} */
const PRESETS_BY_MODALITY = {
  CT: [
    { key: "1", name: "lung", center: -600, width: 1500 },
    { key: "2", name: "mediastinum", center: 40, width: 400 },
    { key: "3", name: "bone", center: 400, width: 1800 },
    { key: "4", name: "brain", center: 40, width: 80 },
    { key: "5", name: "stroke", center: 35, width: 35 },
    { key: "6", name: "soft-tissue", center: 50, width: 350 },
  ],
};

/** @returns {Preset[]} */
export function presetsFor(modality) {
  return PRESETS_BY_MODALITY[modality] ?? [];
}

/** @returns {Preset|undefined} */
export function presetForKey(modality, key) {
  return presetsFor(modality).find((preset) => preset.key === key);
}

/** Every preset, for the toolbar's list. */
export function allPresets() {
  return PRESETS_BY_MODALITY.CT;
}
