// 建模器中文: Chinese labels for the bpmn-js Modeler's own tools (palette, context pad, menus), used
// when the page is in Chinese. A text not listed stays in English.
(function () {
  "use strict";
  var ZH = {
    "Activate create/remove space tool": "插入/删除空间工具",
    "Activate global connect tool": "全局连线工具",
    "Activate hand tool": "抓手工具",
    "Activate lasso tool": "套索工具",
    "Add lane above": "在上方添加泳道",
    "Add lane below": "在下方添加泳道",
    "Add text annotation": "添加文字注释",
    "Align elements": "对齐元素",
    "Append compensation activity": "追加补偿活动",
    "Append conditional intermediate catch event": "追加条件中间捕获事件",
    "Append end event": "追加结束事件",
    "Append gateway": "追加网关",
    "Append intermediate/boundary event": "追加中间/边界事件",
    "Append message intermediate catch event": "追加消息中间捕获事件",
    "Append receive task": "追加接收任务",
    "Append signal intermediate catch event": "追加信号中间捕获事件",
    "Append task": "追加任务",
    "Append timer intermediate catch event": "追加定时中间捕获事件",
    "Change element": "更改元素类型",
    "Connect to other element": "连接到其他元素",
    "Connect using association": "用关联连接",
    "Connect using data input association": "用数据输入关联连接",
    "Create data object reference": "创建数据对象引用",
    "Create data store reference": "创建数据存储引用",
    "Create end event": "创建结束事件",
    "Create expanded sub-process": "创建展开的子流程",
    "Create gateway": "创建网关",
    "Create group": "创建分组",
    "Create intermediate/boundary event": "创建中间/边界事件",
    "Create pool/participant": "创建池/参与者",
    "Create start event": "创建开始事件",
    "Create task": "创建任务",
    "Delete": "删除",
    "Distribute elements horizontally": "水平分布元素",
    "Distribute elements vertically": "垂直分布元素",
    "Divide into three lanes": "分为三条泳道",
    "Divide into two lanes": "分为两条泳道",
    "Search in diagram": "在图中搜索",
    "Toggle non-interrupting": "切换为非中断",
    "Loop": "循环",
    "Parallel multi-instance": "并行多实例",
    "Sequential multi-instance": "串行多实例"
  };

  function translate(template, replacements) {
    var text = ZH[template] || template;
    return text.replace(/{([^}]+)}/g, function (_, key) {
      return replacements && key in replacements ? replacements[key] : "{" + key + "}";
    });
  }

  window.WhistleModelerModules = document.documentElement.lang === "zh-CN"
    ? [{ translate: ["value", translate] }] : [];
})();
